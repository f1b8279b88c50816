package capture

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// FuzzOpenRedirect: whatever the path, query, Host and forwarding
// headers, a redirect goes exactly to the link's URL or its fallback with
// the recorded click's id (hostileRequest), and nothing else redirects.
func FuzzOpenRedirect(f *testing.F) {
	e, rec := newTestServer(f)
	for _, s := range [][4]string{
		{"/r/demo", "", "", ""},
		{"/r/ph", "xp_click=//evil.com", "evil.com", "https://evil.com/"},
		{"/r/%2F%2Fevil.com", "url=https://evil.com", "", ""},
		{"/r/paused", "sub=a%0d%0aLocation:x", "", "javascript:x"},
		{"/r/demo%E3%80%82evil.com", "", "evil.com:443", ""},
		{"/p.gif", "l=demo&next=//evil.com", "", ""},
		{"/r/nofb", "", "", ""},
		{"/r/%5C%5Cevil", "", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, path, query, host, fwd string) {
		target := path
		if query != "" {
			target += "?" + query
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(path, "/") {
			return // not a request line a server could receive
		}
		req := httptest.NewRequest("GET", "http://t.example/", nil)
		req.URL, req.RequestURI = u, target
		req.RemoteAddr = "10.0.0.1:5555"
		if host != "" && httpguts.ValidHostHeader(host) {
			req.Host = host
		}
		if httpguts.ValidHeaderFieldValue(fwd) {
			for _, k := range []string{"X-Forwarded-Host", "X-Forwarded-Proto", "Referer", "X-Original-URL"} {
				req.Header.Set(k, fwd)
			}
		}
		hostileRequest(t, e, rec, req)
	})
}

// FuzzVisitorCookie: the visitor id is taken from the xp_vid cookie only
// when it is well formed; otherwise a new one is issued. Either way the
// click records exactly the id the answer's cookie carries, and the
// cookie header is a single clean line.
func FuzzVisitorCookie(f *testing.F) {
	e, rec := newTestServer(f)
	for _, s := range []string{
		"xp_vid=KRE5Xofhz4K7Vu_QM0xQ1g", "xp_vid=KRE5Xofhz4K7Vu_QM0xQ1h", "xp_vid=short", `xp_vid="KRE5Xofhz4K7Vu_QM0xQ1g"`,
		"xp_vid=KRE5Xofhz4K7Vu+QM0xQ1g", "a=1; xp_vid=KRE5Xofhz4K7Vu_QM0xQ1g; xp_vid=other", "xp_vid=%0d%0aSet-Cookie:x",
		"xp_vid=KRE5Xofhz4K7Vu_QM0xQ1g==", "", "xp_vid=" + strings.Repeat("A", 5000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cookie string) {
		if !httpguts.ValidHeaderFieldValue(cookie) {
			return // a server never receives it
		}
		req := httptest.NewRequest("GET", "http://t.example/r/demo", nil)
		req.RemoteAddr = "10.0.0.1:5555"
		req.Header.Set("User-Agent", browser)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		if w.Code != http.StatusFound {
			t.Fatalf("cookie %q: status %d", cookie, w.Code)
		}
		set := w.Header().Values("Set-Cookie")
		if len(set) != 1 || strings.ContainsAny(set[0], "\r\n") {
			t.Fatalf("cookie %q: Set-Cookie %q", cookie, set)
		}
		resp := http.Response{Header: http.Header{"Set-Cookie": set}}
		cs := resp.Cookies()
		if len(cs) != 1 || cs[0].Name != VisitorCookie || !validVisitor(cs[0].Value) || !cs[0].HttpOnly {
			t.Fatalf("cookie %q: answered %q", cookie, set)
		}
		if sent, err := req.Cookie(VisitorCookie); err == nil && validVisitor(sent.Value) && cs[0].Value != sent.Value {
			t.Fatalf("cookie %q: a well-formed id %q was replaced by %q", cookie, sent.Value, cs[0].Value)
		}
		if h := rec.last(t); h.Visitor != cs[0].Value {
			t.Fatalf("cookie %q: hit visitor %q, cookie %q", cookie, h.Visitor, cs[0].Value)
		}
	})
}
