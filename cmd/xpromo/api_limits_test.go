package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/app"
	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// scriptClient is a script's view of the API: one request at a time, the
// whole answer read.
type scriptClient struct {
	t     *testing.T
	base  string
	token string
}

func (a scriptClient) call(method, path string) (*http.Response, string) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.base+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// startAPI runs serve with the API's rate limits set by opts and returns
// a client with an admin token it accepts.
func startAPI(t *testing.T, opts ...func(*app.Config)) scriptClient {
	t.Helper()
	db := testenv.ClickHouse(t)
	r := testenv.NewRedis(t)
	seed(t, db)
	s := startServe(t, r.URL, r.Prefix, db, opts...)
	secret, _, err := auth.NewStore(db.Conn).Create(context.Background(), auth.Spec{Role: access.RoleAdmin, Name: "script"})
	if err != nil {
		t.Fatal(err)
	}
	a := scriptClient{t: t, base: s.base, token: secret}
	testenv.WaitFor(t, 10*time.Second, "token accepted", func() bool {
		resp, _ := a.call("GET", "/v1/partners")
		return resp.StatusCode == 200
	})
	return a
}

// TestServeAPIRateLimitHeaders: with serve's default limits, a script
// sending one request at a time is never answered 429, and every API
// answer (success, 401, 404, 405) carries the RateLimit headers.
func TestServeAPIRateLimitHeaders(t *testing.T) {
	a := startAPI(t, func(c *app.Config) { c.APIRate, c.APIIPRate = app.DefAPIRate, app.DefAPIIPRate })
	paths := []string{"/v1/partners", "/v1/partnerships", "/v1/links/demo", "/v1/tokens", "/v1/audit?limit=5", "/v1/partners/acme"}
	const n = 600
	start := time.Now()
	lowest := app.DefAPIRate
	for i := range n {
		path := paths[i%len(paths)]
		resp, body := a.call("GET", path)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d, GET %s = %d: %s", i, path, resp.StatusCode, body)
		}
		lim, rem, reset := resp.Header.Get("RateLimit-Limit"), resp.Header.Get("RateLimit-Remaining"), resp.Header.Get("RateLimit-Reset")
		r, err := strconv.Atoi(rem)
		if lim != strconv.Itoa(app.DefAPIRate) || err != nil || r < 0 || r >= app.DefAPIRate || reset == "" {
			t.Fatalf("request %d, GET %s: RateLimit-Limit %q -Remaining %q -Reset %q", i, path, lim, rem, reset)
		}
		lowest = min(lowest, r)
	}
	rate := float64(n) / time.Since(start).Seconds()
	t.Logf("%d sequential requests at %.0f/s, lowest RateLimit-Remaining %d of %d", n, rate, lowest, app.DefAPIRate)

	// Refusals carry them too, and a 405 names the methods.
	for _, c := range []struct {
		method, path, token string
		code                int
		allow               string
	}{
		{"GET", "/v1/partners", "", 401, ""},
		{"GET", "/v1/no-such-route", a.token, 404, ""},
		{"DELETE", "/v1/partners/acme", a.token, 405, "GET, PATCH"},
		{"PUT", "/v1/links", a.token, 405, "GET, POST"},
	} {
		resp, body := scriptClient{t: t, base: a.base, token: c.token}.call(c.method, c.path)
		if resp.StatusCode != c.code || resp.Header.Get("Allow") != c.allow || !strings.Contains(body, `"error"`) {
			t.Errorf("%s %s = %d Allow %q: %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), body)
		}
		for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("%s %s (%d) has no %s", c.method, c.path, resp.StatusCode, h)
			}
		}
	}
	// The OpenAPI document is outside the limited group: GET only, 405
	// for the rest, no token needed.
	resp, body := scriptClient{t: t, base: a.base}.call("DELETE", "/v1/openapi.json")
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" || !strings.Contains(body, `"error":"method_not_allowed"`) {
		t.Errorf("DELETE /v1/openapi.json = %d Allow %q: %s", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
}

// TestServeAPIRateLimitRefuses: over a (deliberately tiny) limit the
// answer is 429 with Retry-After and the RateLimit headers at zero.
func TestServeAPIRateLimitRefuses(t *testing.T) {
	a := startAPI(t, func(c *app.Config) { c.APIRate, c.APIIPRate = 0.5, 0 })
	// startAPI's wait used the one request of the burst, or it comes back
	// within 2 s; take it, then the next is refused.
	testenv.WaitFor(t, 5*time.Second, "the burst back", func() bool {
		resp, _ := a.call("GET", "/v1/partners")
		return resp.StatusCode == 200
	})
	resp, body := a.call("GET", "/v1/partners")
	h := resp.Header
	if resp.StatusCode != 429 || !strings.Contains(body, `"error":"too_many_requests"`) ||
		h.Get("RateLimit-Limit") != "1" || h.Get("RateLimit-Remaining") != "0" || h.Get("RateLimit-Reset") != "2" || h.Get("Retry-After") != "2" {
		t.Errorf("over the limit: %d Limit %q Remaining %q Reset %q Retry-After %q: %s", resp.StatusCode,
			h.Get("RateLimit-Limit"), h.Get("RateLimit-Remaining"), h.Get("RateLimit-Reset"), h.Get("Retry-After"), body)
	}
}
