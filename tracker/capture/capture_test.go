package capture

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/lib/metrics"
	"github.com/xpromo/xpromo/tracker/agent"
	"github.com/xpromo/xpromo/tracker/hit"
)

// These unit tests touch no server: the buffer is a recorder and the
// catalog a fixed snapshot. The pipeline behind them is tested in
// cmd/xpromo against real Redis and ClickHouse.

type recorder struct {
	mu   sync.Mutex
	hits []hit.Hit
}

func (r *recorder) Submit(h *hit.Hit) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits = append(r.hits, *h)
	return nil
}

func (r *recorder) last(t *testing.T) hit.Hit {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.hits) == 0 {
		t.Fatal("no hit recorded")
	}
	return r.hits[len(r.hits)-1]
}

type fixedCatalog struct{ snap *catalog.Snapshot }

func (f fixedCatalog) Get() *catalog.Snapshot { return f.snap }

const linkURL = "https://www.example.com/welcome?a=1&b=two%20words#frag"

func newTestServer(t testing.TB) (*echo.Echo, *recorder) {
	snap := catalog.NewSnapshot([]catalog.Partner{{ID: "acme", Name: "ACME", Domains: []string{"acme.example"}}},
		[]catalog.Partnership{{ID: "acme-de", Partner: "acme", Country: "DE", Direction: vocab.Both}, {ID: "acme-at", Partner: "acme", Country: "AT", Direction: vocab.Both}},
		[]catalog.Link{
			{Code: "demo", Partnership: "acme-de", Partner: "acme", Direction: vocab.Inbound, URL: linkURL, Campaign: "c1"},
			{Code: "plain", Partnership: "acme-de", Partner: "acme", Direction: vocab.Outbound, URL: "https://acme.example/x"},
			{Code: "ph", Partnership: "acme-de", Partner: "acme", Direction: vocab.Outbound, URL: "https://acme.example/land/{click_id}?ref=xp&c={click_id}"},
			{Code: "paused", Partnership: "acme-de", Partner: "acme", Direction: vocab.Inbound, URL: linkURL, Status: catalog.StatusPaused},
			{Code: "expired", Partnership: "acme-de", Partner: "acme", Direction: vocab.Inbound, URL: linkURL, ExpiresAt: time.Unix(1, 0)},
			{Code: "nofb", Partnership: "acme-at", Partner: "acme", Direction: vocab.Inbound, URL: linkURL, Status: catalog.StatusArchived},
		}, catalog.Terms{Partnership: "acme-de", Version: 1, Status: catalog.StatusActive, FallbackURL: "https://www.example.com/partners/acme"})
	rec := &recorder{}
	trusted, _ := ParseCIDRs("10.0.0.1")
	s := New(fixedCatalog{snap}, rec, agent.New(100), NewClientIP(trusted), slogDiscard(), metrics.Discard())
	e := echo.New()
	s.Register(e)
	return e, rec
}

const browser = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"

func do(e *echo.Echo, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://t.example"+target, nil)
	req.RemoteAddr = "10.0.0.1:5555"
	req.Header.Set("User-Agent", browser)
	return serve(e, req, hdr)
}

// serve sends req to e with the headers hdr set and records the answer.
func serve(e *echo.Echo, req *http.Request, hdr map[string]string) *httptest.ResponseRecorder {
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	return w
}

func TestRedirect(t *testing.T) {
	e, rec := newTestServer(t)
	w := do(e, "GET", "/r/demo", map[string]string{"X-Forwarded-For": "81.2.69.142", "Referer": "https://News.Example/path?secret=1"})
	if w.Code != http.StatusFound {
		t.Fatalf("status %d", w.Code)
	}
	h := rec.last(t)
	want := "https://www.example.com/welcome?a=1&b=two%20words&xp_click=" + h.ID + "#frag"
	if got := w.Header().Get("Location"); got != want {
		t.Fatalf("Location = %q, want %q", got, want)
	}
	if h.Kind != hit.KindClick || h.Link != "demo" || h.Partnership != "acme-de" || h.Partner != "acme" ||
		h.Direction != vocab.DirectionInbound || h.Campaign != "c1" || h.Country != "GB" || h.Bot ||
		h.Device != hit.DeviceDesktop || h.RefHost != "news.example" || !ids.Valid(h.ID) || h.Visitor == "" {
		t.Fatalf("hit = %+v", h)
	}
	if !strings.Contains(w.Header().Get("Set-Cookie"), "xp_vid="+h.Visitor) {
		t.Errorf("Set-Cookie = %q", w.Header().Get("Set-Cookie"))
	}
	if w.Header().Get("Cache-Control") == "" {
		t.Error("redirect may be cached")
	}
}

// TestInactiveLinks: a paused, archived or expired link sends the click to
// its partnership's fallback URL and records it as a fallback click; with
// no fallback it answers 410 and keeps a rejected hit. A {click_id}
// placeholder is replaced instead of appending xp_click.
func TestInactiveLinks(t *testing.T) {
	e, rec := newTestServer(t)
	tests := []struct {
		code     string
		status   int
		location string // with CLICK standing for the click id
		fallback bool
		reason   string // rejected hits only
	}{
		{"ph", http.StatusFound, "https://acme.example/land/CLICK?ref=xp&c=CLICK", false, ""},
		{"paused", http.StatusFound, "https://www.example.com/partners/acme?xp_click=CLICK", true, ""},
		{"expired", http.StatusFound, "https://www.example.com/partners/acme?xp_click=CLICK", true, ""},
		{"nofb", http.StatusGone, "", false, "link_inactive"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			w := do(e, "GET", "/r/"+tt.code, nil)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			h := rec.last(t)
			if h.Link != tt.code || h.Partnership == "" {
				t.Fatalf("hit %+v does not name the link and partnership", h)
			}
			if tt.reason != "" {
				if h.Kind != hit.KindRejected || h.Reason != tt.reason {
					t.Fatalf("hit %+v, want rejected %s", h, tt.reason)
				}
				return
			}
			if h.Kind != hit.KindClick || h.Fallback != tt.fallback {
				t.Fatalf("hit kind %v fallback %v, want click fallback %v", h.Kind, h.Fallback, tt.fallback)
			}
			if want := strings.ReplaceAll(tt.location, "CLICK", h.ID); w.Header().Get("Location") != want {
				t.Fatalf("Location %q, want %q", w.Header().Get("Location"), want)
			}
		})
	}
}

func TestHeadIsABot(t *testing.T) {
	e, rec := newTestServer(t)
	if w := do(e, "HEAD", "/r/demo", nil); w.Code != http.StatusFound {
		t.Fatalf("status %d", w.Code)
	}
	if h := rec.last(t); !h.Bot || h.Kind != hit.KindClick {
		t.Fatalf("HEAD hit = %+v", h)
	}
}

// No request makes the tracker redirect anywhere but a link's URL.
func TestNoOpenRedirect(t *testing.T) {
	e, rec := newTestServer(t)
	for _, target := range []string{
		"/r/demo?url=https://evil.example", "/r/demo?xp_click=x&next=//evil.example",
		"/r/nope", "/r/", "/r/..%2F..%2Fevil.example", "/r/demo%2F%2Fevil.example", "/r//evil.example",
		"/r/%0d%0aLocation:%20https://evil.example", "/r/demo%00", "/r/" + strings.Repeat("a", 5000),
		"/r/javascript:alert(1)", "/r/https:%2F%2Fevil.example", "/r/DEMO", "/r/%ff%fe",
	} {
		w := do(e, "GET", target, nil)
		loc := w.Header().Get("Location")
		switch w.Code {
		case http.StatusFound:
			if !strings.HasPrefix(loc, "https://www.example.com/welcome?a=1&b=two%20words&xp_click=") {
				t.Errorf("%s redirected to %q", target, loc)
			}
		case http.StatusNotFound:
			if loc != "" {
				t.Errorf("%s: 404 with Location %q", target, loc)
			}
			if !strings.Contains(w.Body.String(), "Link not found") {
				t.Errorf("%s: 404 body %q", target, w.Body.String())
			}
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect:
			// echo may clean paths; it must stay on this host.
			if u, err := url.Parse(loc); err != nil || u.Host != "" {
				t.Errorf("%s: %d to %q", target, w.Code, loc)
			}
		default:
			t.Errorf("%s: status %d", target, w.Code)
		}
	}
	// Unknown codes are kept as rejected hits, not dropped.
	var unknown int
	for _, h := range rec.hits {
		if h.Kind == hit.KindRejected && h.Reason == "unknown_code" {
			unknown++
		}
	}
	if unknown == 0 {
		t.Error("unknown codes were not recorded")
	}
}

func TestPixel(t *testing.T) {
	forged := "01M8AKA63R66W86ZRQQMVX8AQU" // U is not in the id alphabet
	valid := ids.New(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC))
	tests := []struct {
		query   string
		kind    hit.Kind
		reason  string
		amount  string
		partner string
	}{
		{"l=demo", hit.KindView, "", "", "acme"},
		{"l=nope", hit.KindRejected, "unknown_link", "", ""},
		{"e=signup", hit.KindConversion, "", "", ""},
		{"e=signup&click=" + valid, hit.KindConversion, "", "", ""},
		{"e=signup&click=" + strings.ToLower(valid), hit.KindConversion, "", "", ""},
		{"e=signup&click=" + forged, hit.KindRejected, "bad_click_id", "", ""},
		{"e=purchase&v=12.50&cur=eur&oid=A-1", hit.KindConversion, "", "12.5", ""},
		{"e=purchase&v=0.0001&cur=JPY&l=demo&oid=A-2", hit.KindConversion, "", "0.0001", "acme"},
		{"e=purchase&oid=A-3", hit.KindRejected, "missing_amount", "", ""},
		{"e=purchase&v=12.50&cur=EUR", hit.KindRejected, "missing_order_id", "", ""},
		{"e=purchase&v=-1&cur=EUR&oid=A", hit.KindRejected, "bad_amount", "", ""},
		{"e=purchase&v=1e5&cur=EUR&oid=A", hit.KindRejected, "bad_amount", "", ""},
		{"e=purchase&v=NaN&cur=EUR&oid=A", hit.KindRejected, "bad_amount", "", ""},
		{"e=purchase&v=1.23456&cur=EUR&oid=A", hit.KindRejected, "bad_amount", "", ""},
		{"e=purchase&v=100000000000000&cur=EUR&oid=A", hit.KindRejected, "bad_amount", "", ""},
		{"e=purchase&v=10&cur=XXX1&oid=A", hit.KindRejected, "bad_currency", "", ""},
		{"e=purchase&v=10&cur=ABC&oid=A", hit.KindRejected, "bad_currency", "", ""},
		{"e=purchase&v=10&oid=A", hit.KindRejected, "bad_currency", "", ""},
		{"e=refund&v=10&cur=EUR&oid=A-1", hit.KindConversion, "", "10", ""},
		{"e=refund&v=10&cur=EUR", hit.KindRejected, "missing_order_id", "", ""},
		{"e=cancel&oid=A-1", hit.KindRejected, "bad_event", "", ""},
		{"e=signup&uid=u-1&existing=1", hit.KindConversion, "", "", ""},
		{"e=signup&uid=a%0Ab", hit.KindRejected, "bad_user_id", "", ""},
		{"e=signup&oid=" + strings.Repeat("x", 129), hit.KindRejected, "bad_order_id", "", ""},
		{"e=signup&oid=a%0Ab", hit.KindRejected, "bad_order_id", "", ""},
		{"", hit.KindRejected, "missing_l_or_e", "", ""},
		{"x=1", hit.KindRejected, "missing_l_or_e", "", ""},
		{"l=%ff", hit.KindRejected, "invalid_utf8", "", ""},
		{"l=%zz", hit.KindRejected, "bad_query", "", ""},
		{"l=" + strings.Repeat("a", 600), hit.KindRejected, "param_too_long", "", ""},
		{"l=demo&pad=" + strings.Repeat("a", 5000), hit.KindRejected, "query_too_long", "", ""},
		{"l=demo'%20OR%201=1--", hit.KindRejected, "unknown_link", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 40)], func(t *testing.T) {
			e, rec := newTestServer(t)
			w := do(e, "GET", "/p.gif?"+tt.query, nil)
			if w.Code != 200 || w.Header().Get("Content-Type") != "image/gif" || !bytes.Equal(w.Body.Bytes(), gif) || len(gif) != 43 {
				t.Fatalf("answer: %d %q %d bytes", w.Code, w.Header().Get("Content-Type"), w.Body.Len())
			}
			if !strings.Contains(w.Header().Get("Cache-Control"), "no-store") {
				t.Errorf("Cache-Control = %q", w.Header().Get("Cache-Control"))
			}
			h := rec.last(t)
			if h.Kind != tt.kind || h.Reason != tt.reason || h.Amount != tt.amount || h.Partner != tt.partner {
				t.Fatalf("hit kind=%v reason=%q amount=%q partner=%q; want %v %q %q %q", h.Kind, h.Reason, h.Amount, h.Partner, tt.kind, tt.reason, tt.amount, tt.partner)
			}
			if h.Kind == hit.KindRejected && (h.Query == "" && tt.query != "" || len(h.Query) > maxStoredRaw) {
				t.Errorf("rejected hit keeps query %q", h.Query)
			}
		})
	}
}

func TestPixelAlias(t *testing.T) {
	e, rec := newTestServer(t)
	if w := do(e, "GET", "/p?l=demo", nil); w.Code != 200 || w.Body.Len() != 43 {
		t.Fatalf("/p: %d", w.Code)
	}
	if rec.last(t).Kind != hit.KindView {
		t.Fatal("/p did not record a view")
	}
}

func TestClientIP(t *testing.T) {
	trusted, err := ParseCIDRs("127.0.0.0/8, ::1/128, 10.1.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	c := NewClientIP(trusted)
	tests := []struct {
		peer, xff, want string
	}{
		{"203.0.113.9:1", "8.8.8.8", "203.0.113.9"},      // untrusted peer: XFF ignored
		{"127.0.0.1:1", "8.8.8.8", "8.8.8.8"},            // trusted proxy
		{"127.0.0.1:1", "6.6.6.6, 8.8.8.8", "8.8.8.8"},   // client-written left part ignored
		{"127.0.0.1:1", "8.8.8.8, 10.1.2.3", "8.8.8.8"},  // two trusted hops
		{"127.0.0.1:1", "", "127.0.0.1"},                 // no header
		{"127.0.0.1:1", "garbage", "127.0.0.1"},          // unparseable
		{"127.0.0.1:1", "8.8.8.8, garbage", "127.0.0.1"}, // garbage nearest: stop
		{"[::1]:1", "2001:4860:4860::8888", "2001:4860:4860::8888"},
		{"[::ffff:127.0.0.1]:1", "8.8.4.4", "8.8.4.4"}, // mapped loopback is trusted
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.peer
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := c.Addr(r); got != netip.MustParseAddr(tt.want) {
			t.Errorf("peer %s xff %q: %v, want %s", tt.peer, tt.xff, got, tt.want)
		}
	}
	if _, err := ParseCIDRs("10.0.0.0/33"); err == nil {
		t.Error("bad CIDR accepted")
	}
}

func TestParseAmount(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "12.5": "12.5", "12.50": "12.5", "0.0001": "0.0001",
		"99999999999999.9999": "99999999999999.9999", "1.00000": "1"} {
		if got, reason := ParseAmount(in); got != want || reason != "" {
			t.Errorf("ParseAmount(%q) = %q, %q", in, got, reason)
		}
	}
	for _, in := range []string{"", "-1", "+1", "1e3", "1,5", " 1", "0x10", "NaN", "Inf", "1.2.3", ".", "1.00001", "100000000000000"} {
		if _, reason := ParseAmount(in); reason == "" {
			t.Errorf("ParseAmount(%q) accepted", in)
		}
	}
}

func FuzzPixel(f *testing.F) {
	e, rec := newTestServer(f)
	for _, s := range []string{"l=demo", "e=purchase&v=1.5&cur=EUR", "e=signup&click=x", "%ff", "v=1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		req := httptest.NewRequest("GET", "/p.gif", nil)
		req.URL.RawQuery = q
		req.RemoteAddr = "10.0.0.1:1"
		w := serve(e, req, nil)
		if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), gif) {
			t.Fatalf("query %q: status %d", q, w.Code)
		}
		h := rec.last(t)
		if h.Kind == hit.KindRejected && h.Reason == "" {
			t.Fatalf("query %q rejected without a reason", q)
		}
		if h.Kind == hit.KindConversion && h.Amount != "" {
			if _, reason := ParseAmount(h.Amount); reason != "" {
				t.Fatalf("stored amount %q does not parse", h.Amount)
			}
		}
		var back hit.Hit
		if err := back.Unmarshal(h.Marshal()); err != nil {
			t.Fatalf("hit does not encode: %v", err)
		}
	})
}

func FuzzRedirect(f *testing.F) {
	e, _ := newTestServer(f)
	for _, s := range []string{"demo", "plain", "%2F%2Fevil", "demo?x=//evil", "\r\nLocation: x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		req, err := http.NewRequest("GET", "http://t.example/r/"+code, nil)
		if err != nil {
			return // not a request a client could send
		}
		req.RemoteAddr = "10.0.0.1:1"
		w := serve(e, req, nil)
		loc := w.Header().Get("Location")
		if w.Code == http.StatusFound &&
			!strings.HasPrefix(loc, "https://www.example.com/welcome?a=1&b=two%20words&xp_click=") &&
			!strings.HasPrefix(loc, "https://acme.example/x?xp_click=") {
			t.Fatalf("/r/%q redirected to %q", code, loc)
		}
		if w.Code != http.StatusFound && loc != "" {
			if u, err := url.Parse(loc); err != nil || u.Host != "" {
				t.Fatalf("/r/%q: %d to %q", code, w.Code, loc)
			}
		}
	})
}

type discard struct{}

func (discard) Submit(*hit.Hit) error { return nil }

// BenchmarkRedirect is the handler's own cost, without the buffer; compare
// with BenchmarkBareRedirect (a handler answering the same 302 with no work).
func BenchmarkRedirect(b *testing.B) {
	e, _ := newTestServer(b)
	s := New(fixedCatalog{catalog.NewSnapshot([]catalog.Partner{{ID: "acme"}},
		[]catalog.Partnership{{ID: "acme-de", Partner: "acme", Country: "DE", Direction: vocab.Both}},
		[]catalog.Link{{Code: "demo", Partnership: "acme-de", Partner: "acme", Direction: vocab.Inbound, URL: linkURL}})},
		discard{}, agent.New(100), NewClientIP(nil), slogDiscard(), metrics.Discard())
	e = echo.New()
	s.Register(e)
	req := httptest.NewRequest("GET", "/r/demo", nil)
	req.Header.Set("User-Agent", browser)
	req.RemoteAddr = "81.2.69.142:1"
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
	}
}

func BenchmarkBareRedirect(b *testing.B) {
	e := echo.New()
	e.GET("/r/:code", func(c echo.Context) error {
		c.SetCookie(&http.Cookie{Name: VisitorCookie, Value: "KRE5Xofhz4K7Vu_QM0xQ1g", Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		return c.Redirect(http.StatusFound, linkURL+"&xp_click=01M8AKA63R66W86ZRQQMVX8AQG")
	})
	req := httptest.NewRequest("GET", "/r/demo", nil)
	req.Header.Set("User-Agent", browser)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
	}
}

// TestSubID: a plain sub= label of the tracking link is recorded with the
// click; an odd one is dropped, never fails the redirect, and no sub-id
// ever reaches the destination.
func TestSubID(t *testing.T) {
	e, rec := newTestServer(t)
	for _, tt := range []struct{ query, want string }{
		{"?sub=nl-7", "nl-7"},
		{"?utm=x&sub=Banner_2.a~b", "Banner_2.a~b"},
		{"?sub=" + strings.Repeat("a", 65), ""},
		{"?sub=a%20b", ""},
		{"?sub=%3Cscript%3E", ""},
		{"", ""},
	} {
		w := do(e, "GET", "/r/demo"+tt.query, nil)
		if w.Code != http.StatusFound || strings.Contains(w.Header().Get("Location"), "sub=") {
			t.Fatalf("%s: %d %s", tt.query, w.Code, w.Header().Get("Location"))
		}
		if h := rec.last(t); h.SubID != tt.want {
			t.Errorf("%s: sub-id %q, want %q", tt.query, h.SubID, tt.want)
		}
	}
}

// FuzzSubID: whatever the query, a recorded sub-id is a plain label of at
// most MaxSubID bytes.
func FuzzSubID(f *testing.F) {
	for _, s := range []string{"sub=nl-7", "a=1&sub=x%00y", "sub=" + strings.Repeat("z", 70), "sub=%zz", "sub=a&sub=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v := subID(raw)
		if len(v) > MaxSubID || strings.ContainsFunc(v, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._~-", r))
		}) {
			t.Fatalf("subID(%q) = %q", raw, v)
		}
	})
}
