package browser

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const csvBody = "partnership,clicks\r\nacme-de,12\r\n\"b, c\",3\r\n"

// site is a tiny signed-in site shaped like the dashboard: a sign-in form
// that sets a cookie, a data table with a CSV download, a 404.
func site(t *testing.T) *httptest.Server {
	t.Helper()
	signedIn := func(r *http.Request) bool {
		c, err := r.Cookie("s")
		return err == nil && c.Value == "ok"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if !signedIn(r) {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/home", http.StatusSeeOther)
	})
	signinForm := `<!doctype html><title>sign in</title><p id="msg">%s</p>
<form id="signin" method="post" action="/signin"><input name="token"><button type="submit">Sign in</button></form>
<form id="period" method="get" action="/home"><input type="date" name="from"><select name="compare"><option value="none">none</option><option value="previous">previous</option></select><button>Show</button></form>`
	mux.HandleFunc("GET /signin", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, signinForm, "")
	})
	mux.HandleFunc("POST /signin", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("token") != "good token" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, signinForm, "unknown token")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "ok", Path: "/", HttpOnly: true})
		http.Redirect(w, r, "/home", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /period", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, signinForm, "")
	})
	mux.HandleFunc("GET /home", func(w http.ResponseWriter, r *http.Request) {
		if !signedIn(r) {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		fmt.Fprint(w, `<!doctype html><meta name="viewport" content="width=device-width"><title>home</title>
<h1 style="font-family: sans-serif">Partnerships</h1>
<svg data-chart="trend" width="200" height="50"><path d="M0 50 L100 10 L200 30" stroke="blue" fill="none"/></svg>
<table data-table="partnerships">
<tr><th>partnership</th><th>clicks</th></tr>
<tr data-key="acme-de"><td data-col="partnership" data-value="acme-de">ACME DE</td><td data-col="clicks" data-value="12">12</td><td data-col="ctr">–</td></tr>
<tr data-key="b, c"><td data-col="partnership" data-value="b, c">B &amp; C</td><td data-col="clicks" data-value="3"> 3 </td></tr>
</table>
<a data-csv="partnerships" href="/t.csv">CSV</a>
<a data-copy="https://x.example/r/abc" href="#">copy</a><a data-copy="" href="#">none</a>`)
	})
	mux.HandleFunc("GET /wide", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><meta name="viewport" content="width=device-width"><style>body{margin:0} .scroll{overflow-x:auto}
.sr{position:absolute;width:1px;height:1px;overflow:hidden}</style>
<div class="scroll"><table><tr><td style="min-width:3000px">wide, but scrolls in its box</td><td><span class="sr">Actions</span></td></tr></table></div>`)
	})
	mux.HandleFunc("GET /t.csv", func(w http.ResponseWriter, r *http.Request) {
		if !signedIn(r) { // the browser must send the session's cookie
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="partnerships.csv"`)
		fmt.Fprint(w, csvBody)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func TestHarness(t *testing.T) {
	shots := t.TempDir()
	t.Setenv("XPROMO_SCREENSHOTS", shots)
	s := site(t)
	b := Start(t, Config{})
	p := b.NewPage(t, "user")

	// Sign-in through the form, with a wrong token first.
	if r := p.Open(s.URL + "/"); r.Status != 200 || r.URL != s.URL+"/signin" {
		t.Fatalf("/ without a session: %+v", r)
	}
	p.Fill("form#signin", map[string]string{"token": "bad"})
	if r := p.Submit("form#signin"); r.Status != http.StatusUnauthorized || p.Text("#msg") != "unknown token" {
		t.Fatalf("bad token: %+v %q", r, p.Text("#msg"))
	}
	p.Fill("form#signin", map[string]string{"token": "good token"})
	if r := p.Submit("form#signin"); r.Status != 200 || r.URL != s.URL+"/home" || p.Location() != s.URL+"/home" {
		t.Fatalf("good token: %+v at %s", r, p.Location())
	}

	// Another page is another session.
	other := b.NewPage(t, "other")
	if r := other.Open(s.URL + "/home"); r.URL != s.URL+"/signin" {
		t.Fatalf("a second page shares the first one's cookies: %+v", r)
	}

	// Elements and the data table.
	if n := p.Count("svg[data-chart=trend] path"); n != 1 {
		t.Errorf("Count = %d", n)
	}
	if n := p.Count("table[data-table=nope]"); n != 0 {
		t.Errorf("Count of nothing = %d", n)
	}
	if v, ok := p.Attr("a[data-csv=partnerships]", "href"); !ok || v != "/t.csv" {
		t.Errorf("Attr = %q %v", v, ok)
	}
	if _, ok := p.Attr("a[data-csv=partnerships]", "download"); ok {
		t.Error("Attr found a missing attribute")
	}
	if got := p.Attrs("a[data-copy]", "data-copy"); strings.Join(got, "|") != "https://x.example/r/abc|" {
		t.Errorf("Attrs = %q", got)
	}
	tab := p.Table("partnerships")
	if strings.Join(tab.Keys(), "|") != "acme-de|b, c" || len(tab.Rows) != 2 {
		t.Fatalf("table keys %q", tab.Keys())
	}
	row, _ := tab.Row("acme-de")
	if c, ok := row.Cell("clicks"); !ok || c.Value != "12" || !c.HasValue || c.Text != "12" {
		t.Errorf("clicks cell %+v", c)
	}
	if c, ok := row.Cell("partnership"); !ok || c.Value != "acme-de" || c.Text != "ACME DE" {
		t.Errorf("partnership cell %+v", c)
	}
	if c, ok := row.Cell("ctr"); !ok || c.HasValue || c.Value != "" || c.Text != "–" {
		t.Errorf("a cell without data-value: %+v", c)
	}
	if strings.Join(row.Cols(), ",") != "partnership,clicks,ctr" {
		t.Errorf("cols %v", row.Cols())
	}
	if row, _ := tab.Row("b, c"); len(row.Cells) != 2 || row.Cells[1].Text != "3" {
		t.Errorf("row b, c: %+v", row)
	}

	// A download through the browser, with the session's cookie.
	d := p.Download("a[data-csv=partnerships]")
	if d.Name != "partnerships.csv" || string(d.Data) != csvBody || d.URL != s.URL+"/t.csv" {
		t.Fatalf("download %q from %s: %q", d.Name, d.URL, d.Data)
	}
	// A second one in the same page works too.
	if d := p.Download("a[data-csv=partnerships]"); string(d.Data) != csvBody {
		t.Fatalf("second download: %q", d.Data)
	}

	// Screenshots at desktop and phone width, into $XPROMO_SCREENSHOTS.
	widths := map[string]int{}
	for _, size := range []struct {
		name string
		set  func()
	}{{"desktop", p.Desktop}, {"phone", p.Phone}} {
		size.set()
		path := p.Screenshot(size.name)
		if filepath.Dir(path) != shots || !strings.Contains(filepath.Base(path), "TestHarness--user-"+size.name) {
			t.Errorf("screenshot path %s", path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s is not a PNG: %v", path, err)
		}
		widths[size.name] = cfg.Width
		if inner := Eval[int](p, "window.innerWidth"); cfg.Width != inner {
			t.Errorf("%s: PNG %d wide, window %d", size.name, cfg.Width, inner)
		}
	}
	if widths["desktop"] != DesktopWidth || widths["phone"] != PhoneWidth {
		t.Errorf("screenshot widths %v", widths)
	}

	// Fields other than text are set, not typed; a button without a type
	// submits.
	p.Open(s.URL + "/period")
	p.Fill("form#period", map[string]string{"from": "2026-10-01", "compare": "previous"})
	if r := p.Submit("form#period"); !strings.HasSuffix(r.URL, "/home?from=2026-10-01&compare=previous") {
		t.Errorf("period form sent %s", r.URL)
	}

	// A page that fits, and one with an absolute element escaping its
	// scrolling box (an unclipped screen-reader label, say).
	p.Open(s.URL + "/home")
	for _, w := range []int{DesktopWidth, PhoneWidth} {
		p.Viewport(w, 800)
		if o := p.Overflow(); o.Pixels != 0 || len(o.Culprits) != 0 {
			t.Errorf("a page that fits at %d px: %+v", w, o)
		}
	}
	p.Open(s.URL + "/wide")
	if o := p.Overflow(); o.Pixels < 3000-PhoneWidth || len(o.Culprits) != 1 || !strings.HasPrefix(o.Culprits[0], `span.sr (absolute) "Actions" to x=`) {
		t.Errorf("overflow of /wide: %+v", o)
	}
	p.Desktop()

	if r := p.Open(s.URL + "/missing"); r.Status != 404 {
		t.Errorf("/missing: %+v", r)
	}
}

func TestMissingChromiumNamesTheSetUp(t *testing.T) {
	for _, path := range []string{filepath.Join(t.TempDir(), "chromium"), t.TempDir()} {
		err := Config{ExecPath: path, Timeout: 1}.validate()
		if err == nil || !strings.Contains(err.Error(), "scripts/test-tools.sh") {
			t.Errorf("%s: %v", path, err)
		}
	}
	if err := (Config{ExecPath: "/bin/sh", Timeout: 1}).validate(); err != nil {
		t.Errorf("an executable refused: %v", err)
	}
}

func TestScreenshotDir(t *testing.T) {
	t.Setenv("XPROMO_SCREENSHOTS", "")
	d, err := ScreenshotDir()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(filepath.Dir(d))
	if filepath.Base(filepath.Dir(d)) != "testdata-screens" || filepath.Base(d) != RunID() {
		t.Errorf("default dir %s", d)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Errorf("%s is not the repository root: %v", root, err)
	}
	if len(RunID()) != len("20060102T150405Z") || !strings.HasSuffix(RunID(), "Z") {
		t.Errorf("run id %q", RunID())
	}
	t.Setenv("XPROMO_SCREENSHOTS", "/tmp/x")
	if d, _ := ScreenshotDir(); d != "/tmp/x" {
		t.Errorf("XPROMO_SCREENSHOTS ignored: %s", d)
	}
	if got := fileName("TestA/sub case", "de-phone"); got != "TestA_sub_case--de-phone.png" {
		t.Errorf("fileName = %s", got)
	}
}
