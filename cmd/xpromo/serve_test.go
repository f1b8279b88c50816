package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/app"
	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestChangesReachEveryTracker: a change made through one tracker's API
// reaches another tracker within a second through Redis pub/sub, although
// its periodic refresh is an hour away; a paused link then sends clicks to
// the partnership's fallback URL and they are stored as fallback clicks.
// A revoked token stops working on the other tracker just as fast.
func TestChangesReachEveryTracker(t *testing.T) {
	slow := func(c *app.Config) { c.CatalogRefresh = time.Hour }
	a := startSeeded(t, slow)
	db, r := a.db, a.redis
	b := startServe(t, r.URL, r.Prefix, db, slow, func(c *app.Config) { c.Ingest = false })
	ctx := context.Background()
	secret, tok, err := auth.NewStore(pgOf(db).Pool).WithClock(testenv.Clock()).Create(ctx, auth.Spec{Role: access.RoleAdmin, Name: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	// api calls the API of the tracker at base as the token's holder.
	api := func(base, method, path, body string) (int, string) {
		t.Helper()
		return call(t, method, base+path, secret, "application/json", body)
	}
	// Tokens reload every second by default; wait until both know this one.
	for _, s := range []*server{a, b} {
		testenv.WaitFor(t, 10*time.Second, "token accepted", func() bool {
			code, _ := api(s.base, "GET", "/v1/partnerships", "")
			return code == 200
		})
	}
	redirect := func(s *server, code string) *http.Response {
		return get(t, noRedirect, "GET", s.base+"/r/"+code, "8.8.8.8", browserUA)
	}
	// propagated measures how long until b answers as want once a change
	// made through a's API has returned (the change is made then).
	propagated := func(what string, change func(), want func(*http.Response) bool) {
		t.Helper()
		change()
		start := time.Now()
		for !want(redirect(b, "fresh")) {
			if time.Since(start) > time.Second {
				t.Fatalf("%s: the other tracker did not see it within 1 s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("%s reached the other tracker in %v", what, time.Since(start).Round(time.Millisecond))
	}

	if resp := redirect(b, "fresh"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	propagated("a new link", func() {
		if code, body := api(a.base, "POST", "/v1/links", `{"code":"fresh","partnership":"acme-de","direction":"inbound","url":"https://www.example.com/fresh"}`); code != 201 {
			t.Fatalf("create link: %d %s", code, body)
		}
	}, func(r *http.Response) bool {
		return r.StatusCode == http.StatusFound && strings.HasPrefix(r.Header.Get("Location"), "https://www.example.com/fresh?xp_click=")
	})
	// A fallback URL for the partnership: it changes no active link's
	// target, so the next step (a paused link going to it) shows it arrived.
	if code, body := api(a.base, "PUT", "/v1/partnerships/acme-de/terms", `{"effective_from":"2026-01-01","start_date":"2026-01-01","currency":"EUR","fallback_url":"https://www.example.com/fallback"}`); code != 201 {
		t.Fatalf("set terms: %d %s", code, body)
	}
	var pausedClicks []string
	propagated("a paused link", func() {
		if code, body := api(a.base, "PATCH", "/v1/links/fresh", `{"status":"paused"}`); code != 200 {
			t.Fatalf("pause: %d %s", code, body)
		}
	}, func(r *http.Response) bool {
		if strings.HasPrefix(r.Header.Get("Location"), "https://www.example.com/fallback?xp_click=") {
			pausedClicks = append(pausedClicks, clickID(t, r))
			return true
		}
		return false
	})
	// The fallback click is stored as such (ingested by a).
	testenv.WaitFor(t, 20*time.Second, "fallback click stored", func() bool {
		return count(t, db, "SELECT count() FROM hits WHERE id = ? AND fallback = 1 AND link = 'fresh'", pausedClicks[0]) == 1
	})

	// The CLI announces its changes the same way.
	if code, out, errOut := cliRun(t, db, "link", "add", "--code", "cli-made", "--partnership", "acme-de", "--direction", "inbound",
		"--url", "https://www.example.com/cli", "--redis-url", r.URL, "--redis-prefix", r.Prefix); code != 0 {
		t.Fatalf("xpromo link add: %d %s %s", code, out, errOut)
	}
	start := time.Now()
	for redirect(b, "cli-made").StatusCode != http.StatusFound {
		if time.Since(start) > time.Second {
			t.Fatal("a link added with the CLI did not reach the tracker within 1 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("a link added with the CLI reached the tracker in %v", time.Since(start).Round(time.Millisecond))

	// Revoking the token through a: b refuses it within a second.
	if code, body := api(a.base, "DELETE", "/v1/tokens/"+tok.ID, ""); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	start = time.Now()
	for {
		code, _ := api(b.base, "GET", "/v1/partnerships", "")
		if code == http.StatusUnauthorized {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("the other tracker still accepts a revoked token after 1 s (%d)", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("a revoked token was refused by the other tracker after %v", time.Since(start).Round(time.Millisecond))

	// The audit log has each change.
	var n uint64
	for _, q := range []string{
		"SELECT count(*) FROM audit_log WHERE entity = 'link' AND entity_id = 'fresh'",
		"SELECT count(*) FROM audit_log WHERE entity = 'partnership' AND entity_id = 'acme-de' AND action = 'set_terms'",
		"SELECT count(*) FROM audit_log WHERE entity = 'token' AND action = 'revoke'",
	} {
		n += pgCount(t, db, q)
	}
	if n != 4 {
		b, _ := json.Marshal(n)
		t.Fatalf("audit entries = %s, want 4 (link create + pause, terms, token revoke)", b)
	}
}

// TestReadyz: serve's /readyz answers 200
// {"clickhouse":"ok","postgres":"ok","redis":"ok"} while all three answer;
// 503 when Redis or ClickHouse does not (its error in place of "ok", the
// others still "ok"); 200 with PostgreSQL's error when only PostgreSQL is
// away (captures need only the catalog's copy in memory); 200 all "ok"
// again once it is back. The servers are shared by every test, so serve
// reaches each through a testenv.Proxy the test takes down and back up.
func TestReadyz(t *testing.T) {
	db := newDB(t)
	r := testenv.NewRedis(t)
	chURL, chProxy := viaProxy(t, db.URL)
	redisURL, redisProxy := viaProxy(t, r.URL)
	pgURL, pgProxy := viaProxy(t, pgOf(db).URL)
	s := startServe(t, redisURL, r.Prefix, sharedCatalog(t, &testenv.DB{Conn: db.Conn, Name: db.Name, URL: chURL}, db),
		func(c *app.Config) { c.PostgresURL = pgURL })

	client := &http.Client{Timeout: 10 * time.Second}
	readyz := func() (int, map[string]string) {
		t.Helper()
		resp, err := client.Get(s.base + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var status map[string]string
		if err := json.Unmarshal(b, &status); err != nil {
			t.Fatalf("GET /readyz: %d %q: %v", resp.StatusCode, b, err)
		}
		return resp.StatusCode, status
	}
	// ready waits for 200 with all three "ok": a pool may first hand out a
	// connection the outage cut, which fails once and is dropped, and
	// PostgreSQL's state alone leaves the answer 200.
	ready := func(what string) {
		t.Helper()
		testenv.WaitFor(t, 20*time.Second, what, func() bool {
			code, status := readyz()
			return code == http.StatusOK && len(status) == 3 && status["redis"] == "ok" && status["clickhouse"] == "ok" && status["postgres"] == "ok"
		})
	}
	// away checks the answer with one server away: want, its error in
	// place of "ok", the others "ok".
	away := func(what string, want int, down string) {
		t.Helper()
		code, status := readyz()
		ok := code == want && len(status) == 3 && status[down] != "" && status[down] != "ok"
		for name, st := range status {
			if name != down && st != "ok" {
				ok = false
			}
		}
		if !ok {
			t.Fatalf("%s: %d %v, want %d with %s's error and the others ok", what, code, status, want, down)
		}
		t.Logf("%s: %d %v", what, code, status)
	}

	ready("all up")
	chProxy.SetDown(true)
	away("ClickHouse unreachable", http.StatusServiceUnavailable, "clickhouse")
	chProxy.SetDown(false)
	ready("ClickHouse back")
	redisProxy.SetDown(true)
	away("Redis unreachable", http.StatusServiceUnavailable, "redis")
	redisProxy.SetDown(false)
	ready("Redis back")
	pgProxy.SetDown(true)
	away("PostgreSQL unreachable", http.StatusOK, "postgres")
	pgProxy.SetDown(false)
	ready("PostgreSQL back")
}

// viaProxy puts a testenv.Proxy in front of rawURL's host and returns
// rawURL with the proxy's address in its place.
func viaProxy(t *testing.T, rawURL string) (string, *testenv.Proxy) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.NewProxy(t, u.Host)
	u.Host = p.Addr()
	return u.String(), p
}

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
	s := startSeeded(t, opts...)
	secret, _, err := auth.NewStore(pgOf(s.db).Pool).Create(context.Background(), auth.Spec{Role: access.RoleAdmin, Name: "script"})
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
