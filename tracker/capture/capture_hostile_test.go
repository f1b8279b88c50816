package capture

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/tracker/hit"
)

// wantLocation is where each code of newTestServer's catalog sends a
// click, CLICK standing for the click's id; a code missing here must
// never redirect.
var wantLocation = map[string]string{
	"demo":    "https://www.example.com/welcome?a=1&b=two%20words&xp_click=CLICK#frag",
	"plain":   "https://acme.example/x?xp_click=CLICK",
	"ph":      "https://acme.example/land/CLICK?ref=xp&c=CLICK",
	"paused":  "https://www.example.com/partners/acme?xp_click=CLICK",
	"expired": "https://www.example.com/partners/acme?xp_click=CLICK",
}

// hostileRequest serves one request and checks the open-redirect
// property: a redirect goes exactly to the link's URL (or its
// partnership's fallback) with the click id of the hit it recorded, so
// neither the host nor anything else in it comes from the request;
// anything else carries no Location at all.
func hostileRequest(t *testing.T, e *echo.Echo, rec *recorder, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec.mu.Lock()
	before := len(rec.hits)
	rec.mu.Unlock()
	w := serve(e, req, nil)
	loc, target := w.Header().Get("Location"), req.URL.String()
	for k, vs := range w.Header() {
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				t.Fatalf("%s: header %s holds a line break: %q", target, k, v)
			}
		}
	}
	if w.Code < 300 || w.Code > 399 {
		if loc != "" {
			t.Fatalf("%s: %d with Location %q", target, w.Code, loc)
		}
		return w
	}
	if w.Code != http.StatusFound {
		t.Fatalf("%s: redirect status %d to %q", target, w.Code, loc)
	}
	rec.mu.Lock()
	hits := rec.hits[before:]
	rec.mu.Unlock()
	if len(hits) != 1 || hits[0].Kind != hit.KindClick || !ids.Valid(hits[0].ID) {
		t.Fatalf("%s: 302 to %q after hits %+v, want one click", target, loc, hits)
	}
	h := hits[0]
	want, ok := wantLocation[h.Link]
	if !ok {
		t.Fatalf("%s: redirected for code %q to %q", target, h.Link, loc)
	}
	if want = strings.ReplaceAll(want, "CLICK", h.ID); loc != want {
		t.Fatalf("%s: Location %q, want %q", target, loc, want)
	}
	return w
}

// TestOpenRedirectTricks sends the encodings attackers use to turn a
// tracker into an open redirect; each answer is the link's own URL, its
// fallback, or no redirect at all.
func TestOpenRedirectTricks(t *testing.T) {
	e, rec := newTestServer(t)
	for _, tt := range []struct {
		target string
		want   int // expected status
	}{
		{"/r/demo", 302},
		{"//evil.com", 404},
		{"/r//evil.com", 404},
		{"/r///evil.com", 404},
		{"/r/%2F%2Fevil.com", 404},
		{"/r/%252F%252Fevil.com", 404}, // double encoding
		{"/r/%5C%5Cevil.com", 404},     // \\evil.com
		{"/r/%5Cevil", 404},
		{"/r/demo?url=https://evil.com", 302},
		{"/r/demo?url=%2F%2Fevil.com&next=//evil.com&redirect=https:evil.com", 302},
		{"/r/demo?xp_click=https://evil.com", 302},
		{"/r/demo?xp_click=x%26url%3Dhttps://evil.com", 302},
		{"/r/demo@evil.com", 404},
		{"/r/demo%40evil.com", 404},
		{"/r/@evil.com", 404},
		{"/r/demo%0d%0aLocation:%20https://evil.com", 404},
		{"/r/demo?%0d%0aLocation:%20https://evil.com", 302},
		{"/r/demo?sub=%0d%0aLocation:%20https://evil.com", 302},
		{"/r/demo?sub=evil.com", 302},
		{"/r/demo?sub=//evil.com", 302},
		{"/r/demo%E3%80%82evil.com", 404},             // ideographic full stop
		{"/r/evil%EF%BC%8Ecom", 404},                  // fullwidth full stop
		{"/r/demo%EF%BC%8F%EF%BC%8Fevil.com", 404},    // fullwidth solidus
		{"/r/https:%2F%2Fevil.com", 404},              // scheme in the code
		{"/r/javascript:alert(document.domain)", 404}, //
		{"/r/data:text%2Fhtml,<script>alert(1)</script>", 404},
		{"/r/ph", 302},
		{"/r/ph?click_id=evil.com", 302},
		{"/r/ph?{click_id}=//evil.com", 302},
		{"/r/ph%7Bclick_id%7D", 404},
		{"/r/%7Bclick_id%7D", 404},
		{"/r/ph?xp_click=@evil.com", 302},
		{"/r/paused?url=https://evil.com", 302}, // fallback, not the parameter
		{"/r/expired?fallback=https://evil.com", 302},
		{"/r/nofb?fallback=https://evil.com", 410},
		{"/r/demo/..%2F..%2Fevil.com", 404},
		{"/r/demo%2F..%2F..%2Fevil.com", 404},
		{"/r/demo%00evil.com", 404},
		{"/r/demo%09", 404},
		{"/r/DEMO", 404}, // codes are case-sensitive
		{"/r/demo%ff", 404},
		{"/p.gif?l=demo&url=https://evil.com", 200}, // the pixel never redirects
		{"/p?e=purchase&v=1&cur=EUR&oid=1&redirect=//evil.com", 200},
	} {
		t.Run(tt.target, func(t *testing.T) {
			u, err := url.ParseRequestURI(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", "http://t.example/", nil)
			req.URL, req.RequestURI = u, tt.target
			req.RemoteAddr = "10.0.0.1:5555"
			req.Header.Set("User-Agent", browser)
			w := hostileRequest(t, e, rec, req)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
		})
	}
	// The host of the request, forwarding headers and a Referer change nothing.
	for _, hdr := range []map[string]string{
		{"Host": "evil.com"}, {"X-Forwarded-Host": "evil.com"}, {"X-Forwarded-Proto": "javascript"},
		{"Referer": "https://evil.com/"}, {"X-Original-URL": "//evil.com"}, {"X-Rewrite-URL": "/r/%2F%2Fevil.com"},
	} {
		req := httptest.NewRequest("GET", "http://t.example/r/demo", nil)
		req.RemoteAddr = "10.0.0.1:5555"
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			}
			req.Header.Set(k, v)
		}
		if w := hostileRequest(t, e, rec, req); w.Code != http.StatusFound {
			t.Fatalf("%v: status %d", hdr, w.Code)
		}
	}
}

// TestHeaderInjection: line breaks in what the tracker records or echoes
// (sub-ids, the Referer, unknown codes, pixel parameters) never reach a
// response header and are never stored raw.
func TestHeaderInjection(t *testing.T) {
	e, rec := newTestServer(t)
	for _, target := range []string{
		"/r/demo?sub=a%0d%0aSet-Cookie:%20x=1",
		"/r/demo%0d%0aSet-Cookie:%20x=1",
		"/r/%0d%0aSet-Cookie:%20x=1",
		"/p.gif?l=demo%0d%0aSet-Cookie:%20x=1",
		"/p.gif?e=signup&uid=u%0d%0aSet-Cookie:%20x=1",
		"/p.gif?e=purchase&v=1&cur=EUR&oid=o%0aSet-Cookie:%20x=1",
	} {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "http://t.example/", nil)
		req.URL, req.RequestURI = u, target
		req.RemoteAddr = "10.0.0.1:5555"
		w := hostileRequest(t, e, rec, req)
		if got := w.Header().Values("Set-Cookie"); len(got) > 1 || len(got) == 1 && !strings.HasPrefix(got[0], VisitorCookie+"=") {
			t.Fatalf("%s: Set-Cookie %q", target, got)
		}
		h := rec.last(t)
		for name, v := range map[string]string{"link": h.Link, "sub": h.SubID, "user": h.UserID, "order": h.OrderID, "reason": h.Reason, "endpoint": h.Endpoint, "query": h.Query} {
			if strings.ContainsAny(v, "\r\n") {
				t.Fatalf("%s: hit %s = %q", target, name, v)
			}
		}
		if h.Kind != hit.KindRejected && strings.Contains(target, "/p.gif") && h.Kind != hit.KindView {
			t.Fatalf("%s: recorded %+v, want it rejected", target, h)
		}
	}
	for _, ref := range []string{"https://a.example\r\nX: y/", "https://a\x00b.example/", "https://%0d%0a.example/", "https://\xff.example/"} {
		if got := refHost(ref); !utf8.ValidString(got) || strings.ContainsFunc(got, unicode.IsControl) {
			t.Errorf("refHost(%q) = %q", ref, got)
		}
	}
}
