package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"
	"golang.org/x/net/html"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/http/api"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/authtest"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// Fixture: partner alpha runs ps-de-alpha in DE (its terms let it make
// links), bravo runs ps-fr-bravo in FR; activity in October 2026 and
// September 2026 (the comparison period).
const (
	fromDay = "2026-10-01"
	toDay   = "2026-10-31"
)

type env struct {
	t      *testing.T
	db     *testenv.DB
	pg     *testenv.PG
	rd     *testenv.Redis
	cat    *catalog.Store
	ts     *auth.Store
	v      *auth.Verifier
	srv    *Server
	http   *httptest.Server
	tokens map[string]string
	ids    map[string]string
}

func setup(t *testing.T, mod ...func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	db := testenv.ClickHouse(t)
	pg := testenv.Postgres(t)
	rd := testenv.NewRedis(t)
	cat := catalog.NewStore(pg.Pool).WithClock(testenv.Clock())
	ts := auth.NewStore(pg.Pool).WithClock(testenv.Clock())
	for _, p := range []catalog.Partner{
		{ID: "alpha", Name: "Alpha Werbung GmbH", Domains: []string{"alpha.example"}},
		{ID: "bravo", Name: "Bravo Publicité", Domains: []string{"bravo.example"}},
	} {
		if _, err := cat.AddPartner(ctx, p, "test"); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	for _, ps := range []struct {
		catalog.Partnership
		mayLink bool
	}{
		{catalog.Partnership{ID: "ps-de-alpha", Partner: "alpha", Country: "DE", Direction: vocab.Both}, true},
		{catalog.Partnership{ID: "ps-fr-bravo", Partner: "bravo", Country: "FR", Direction: vocab.Both}, false},
	} {
		if _, err := cat.AddPartnership(ctx, ps.Partnership, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := cat.SetTerms(ctx, ps.ID, catalog.Terms{EffectiveFrom: start, StartDate: start, Currency: "EUR",
			InboundCPA: decimal.RequireFromString("2.50"), TargetInboundUsersMonth: 10, PartnerMayCreateLinks: ps.mayLink}, "seed"); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []catalog.Link{
		{Code: "de-in", Partnership: "ps-de-alpha", Direction: vocab.Inbound, URL: "https://ours.example/de", Campaign: "autumn"},
		{Code: "de-out", Partnership: "ps-de-alpha", Direction: vocab.Outbound, URL: "https://alpha.example/offer"},
		{Code: "fr-in", Partnership: "ps-fr-bravo", Direction: vocab.Inbound, URL: "https://ours.example/fr"},
	} {
		if _, err := cat.AddLink(ctx, l, "test"); err != nil {
			t.Fatal(err)
		}
	}
	en := &env{t: t, db: db, pg: pg, rd: rd, cat: cat, ts: ts}
	en.tokens, en.ids = authtest.Create(ctx, t, ts)
	en.v = auth.NewVerifier(ts, time.Hour, nil)
	if err := en.v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	en.seedActivity()
	cfg := Config{Catalog: cat, Events: db.Conn, Tokens: ts, Verifier: en.v, Redis: rd.Client, KeyPrefix: rd.Prefix, SignInRate: -1, Now: testenv.Clock()}
	for _, m := range mod {
		m(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	en.srv = srv
	e := echo.New()
	apiSrv := api.New(cat, db.Conn, ts, en.v, nil)
	apiSrv.Now = testenv.Clock()
	apiSrv.Register(e.Group("/v1", auth.Middleware(en.v)))
	srv.Register(e)
	en.http = httptest.NewServer(e)
	t.Cleanup(en.http.Close)
	return en
}

// seedActivity writes hits and attributions in September and October 2026.
func (en *env) seedActivity() {
	t, ctx := en.t, context.Background()
	hb, err := en.db.Conn.PrepareBatch(ctx, schema.Hits.InsertOnly("id", "ts", "kind", "link", "partnership", "partner", "direction", "campaign", "visitor", "device", "referrer_host", "is_bot", "country", "ingested_at"))
	if err != nil {
		t.Fatal(err)
	}
	type hit struct {
		ps, partner, link, dir, kind, cc string
		day, n                           int
		month                            time.Month
	}
	for _, h := range []hit{
		{"ps-de-alpha", "alpha", "de-in", "inbound", "view", "DE", 3, 40, 10},
		{"ps-de-alpha", "alpha", "de-in", "inbound", "click", "DE", 3, 12, 10},
		{"ps-de-alpha", "alpha", "de-in", "inbound", "click", "DE", 15, 7, 10},
		{"ps-de-alpha", "alpha", "de-out", "outbound", "click", "DE", 16, 5, 10},
		{"ps-de-alpha", "alpha", "de-in", "inbound", "click", "DE", 10, 9, 9},
		{"ps-fr-bravo", "bravo", "fr-in", "inbound", "click", "FR", 4, 6, 10},
	} {
		for i := range h.n {
			at := time.Date(2026, h.month, h.day, 9, i, 0, 0, time.UTC)
			id := fmt.Sprintf("%s-%s-%d-%d-%d", h.link, h.kind, h.month, h.day, i)
			dev := []string{"desktop", "mobile"}[i%2]
			if err := hb.Append(id, at, h.kind, h.link, h.ps, h.partner, h.dir, map[string]string{"de-in": "autumn"}[h.link],
				fmt.Sprintf("v%d", i%5), dev, "news.example", uint8(0), h.cc, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := hb.Send(); err != nil {
		t.Fatal(err)
	}
	ab, err := en.db.Conn.PrepareBatch(ctx, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "outcome", "partnership", "partner", "country", "direction", "click", "terms_version", "revenue", "currency", "revenue_rep", "rep_currency", "computed_at", "version"))
	if err != nil {
		t.Fatal(err)
	}
	type conv struct {
		id, ps, partner, cc, dir, typ, outcome, rev, click string
		at                                                 time.Time
	}
	oct := func(d int) time.Time { return time.Date(2026, 10, d, 12, 0, 0, 0, time.UTC) }
	for _, c := range []conv{
		{"c1", "ps-de-alpha", "alpha", "DE", "inbound", "signup", "new_user", "0", "de-in-click-10-3-0", oct(3)},
		{"c2", "ps-de-alpha", "alpha", "DE", "inbound", "signup", "new_user", "0", "de-in-click-10-3-1", oct(4)},
		{"c3", "ps-de-alpha", "alpha", "DE", "inbound", "signup", "new_user", "0", "de-in-click-10-15-0", oct(15)},
		{"c4", "ps-de-alpha", "alpha", "DE", "inbound", "purchase", "credited", "1234.5", "de-in-click-10-3-0", oct(20)},
		{"c5", "ps-de-alpha", "alpha", "DE", "outbound", "signup", "new_user", "0", "de-out-click-10-16-0", oct(17)},
		{"c6", "ps-de-alpha", "alpha", "DE", "inbound", "signup", "new_user", "0", "", time.Date(2026, 9, 10, 12, 0, 0, 0, time.UTC)},
		{"c7", "ps-fr-bravo", "bravo", "FR", "inbound", "signup", "new_user", "0", "fr-in-click-10-4-0", oct(5)},
	} {
		rev := decimal.RequireFromString(c.rev)
		if err := ab.Append(c.id, c.at, c.typ, "ours", c.outcome, c.ps, c.partner, c.cc, c.dir, c.click, uint32(1),
			rev, "EUR", rev, "EUR", c.at, uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ab.Send(); err != nil {
		t.Fatal(err)
	}
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	en *env
	c  *http.Client
	hd map[string]string // extra headers on every request
}

func (en *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{en: en, hd: map[string]string{}, c: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values, hd map[string]string) (*http.Response, string) {
	b.en.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r, err := http.NewRequest(method, b.en.http.URL+path, body)
	if err != nil {
		b.en.t.Fatal(err)
	}
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range b.hd {
		r.Header.Set(k, v)
	}
	for k, v := range hd {
		r.Header.Set(k, v)
	}
	resp, err := b.c.Do(r)
	if err != nil {
		b.en.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

func (b *browser) get(path string) (*http.Response, string) { return b.do("GET", path, nil, nil) }

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in %s", body)
	}
	return m[1]
}

// signIn signs in as who (a fixture name or a raw token) and returns the
// sign-in answer.
func (b *browser) signIn(who string) *http.Response {
	b.en.t.Helper()
	_, page := b.get("/app/signin")
	tok := who
	if t, ok := b.en.tokens[who]; ok {
		tok = t
	}
	resp, _ := b.do("POST", "/app/signin", url.Values{"token": {tok}, "csrf": {csrfOf(b.en.t, page)}}, nil)
	return resp
}

func (en *env) signedIn(who string) *browser {
	en.t.Helper()
	b := en.browser()
	if resp := b.signIn(who); resp.StatusCode != http.StatusSeeOther {
		en.t.Fatalf("sign in as %s: %d", who, resp.StatusCode)
	}
	return b
}

// apiJSON calls the API as who and decodes its JSON with numbers kept as
// written.
func (en *env) apiJSON(who, path string, out any) int {
	en.t.Helper()
	code, b := en.apiBytes(who, path)
	if out != nil && code == 200 {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(out); err != nil {
			en.t.Fatal(err)
		}
	}
	return code
}

// apiBytes calls the API as who and answers its status and body.
func (en *env) apiBytes(who, path string) (int, []byte) {
	en.t.Helper()
	r, _ := http.NewRequest("GET", en.http.URL+path, nil)
	r.Header.Set("Authorization", "Bearer "+en.tokens[who])
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		en.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// jsonRaw is an API JSON value as the dashboard's data-value writes it.
func jsonRaw(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return fmt.Sprint(x)
	case []any:
		parts := make([]string, len(x))
		for i, it := range x {
			parts[i] = jsonRaw(it)
		}
		return strings.Join(parts, ",")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// pageTable is a data table read from a page: its columns, and its rows
// in order with their keys and raw values.
type pageTable struct {
	cols []string
	keys []string
	rows []map[string]string
	text []map[string]string
}

func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func textOf(n *html.Node) string {
	var b strings.Builder
	walk(n, func(x *html.Node) {
		if x.Type == html.TextNode {
			b.WriteString(x.Data)
		}
	})
	return strings.TrimSpace(b.String())
}

// tables parses every table[data-table] of a page.
func tables(t *testing.T, body string) map[string]*pageTable {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*pageTable{}
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode || n.Data != "table" {
			return
		}
		name, ok := attr(n, "data-table")
		if !ok {
			return
		}
		pt := &pageTable{}
		walk(n, func(x *html.Node) {
			if x.Type == html.ElementNode && x.Data == "th" {
				if c, ok := attr(x, "data-col"); ok {
					pt.cols = append(pt.cols, c)
				}
			}
			if x.Type == html.ElementNode && x.Data == "tr" {
				key, ok := attr(x, "data-key")
				if !ok {
					return
				}
				row, text := map[string]string{}, map[string]string{}
				walk(x, func(td *html.Node) {
					if td.Type == html.ElementNode && td.Data == "td" {
						if c, ok := attr(td, "data-col"); ok {
							row[c], _ = attr(td, "data-value")
							text[c] = textOf(td)
						}
					}
				})
				pt.keys = append(pt.keys, key)
				pt.rows = append(pt.rows, row)
				pt.text = append(pt.text, text)
			}
		})
		out[name] = pt
	})
	return out
}

// hrefs returns the href of every element with attribute name=value
// (value "" matches any value), keyed by the attribute's value.
func hrefs(t *testing.T, body, name string) map[string]string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	walk(doc, func(n *html.Node) {
		if v, ok := attr(n, name); ok && n.Type == html.ElementNode {
			h, _ := attr(n, "href")
			out[v] = h
		}
	})
	return out
}
