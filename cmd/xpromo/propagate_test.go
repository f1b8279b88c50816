package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
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
	db := testenv.ClickHouse(t)
	r := testenv.NewRedis(t)
	seed(t, db)
	slow := func(c *app.Config) { c.CatalogRefresh = time.Hour }
	a := startServe(t, r.URL, r.Prefix, db, slow)
	b := startServe(t, r.URL, r.Prefix, db, slow, func(c *app.Config) { c.Ingest = false })
	ctx := context.Background()
	secret, tok, err := auth.NewStore(db.Conn).WithClock(testenv.Clock()).Create(ctx, auth.Spec{Role: access.RoleAdmin, Name: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	call := func(base, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	// Tokens reload every second by default; wait until both know this one.
	for _, s := range []*server{a, b} {
		testenv.WaitFor(t, 10*time.Second, "token accepted", func() bool {
			code, _ := call(s.base, "GET", "/v1/partnerships", "")
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
		if code, body := call(a.base, "POST", "/v1/links", `{"code":"fresh","partnership":"acme-de","direction":"inbound","url":"https://www.example.com/fresh"}`); code != 201 {
			t.Fatalf("create link: %d %s", code, body)
		}
	}, func(r *http.Response) bool {
		return r.StatusCode == http.StatusFound && strings.HasPrefix(r.Header.Get("Location"), "https://www.example.com/fresh?xp_click=")
	})
	// A fallback URL for the partnership: it changes no active link's
	// target, so the next step (a paused link going to it) shows it arrived.
	if code, body := call(a.base, "PUT", "/v1/partnerships/acme-de/terms", `{"effective_from":"2026-01-01","start_date":"2026-01-01","currency":"EUR","fallback_url":"https://www.example.com/fallback"}`); code != 201 {
		t.Fatalf("set terms: %d %s", code, body)
	}
	var pausedClicks []string
	propagated("a paused link", func() {
		if code, body := call(a.base, "PATCH", "/v1/links/fresh", `{"status":"paused"}`); code != 200 {
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
	if code, body := call(a.base, "DELETE", "/v1/tokens/"+tok.ID, ""); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	start = time.Now()
	for {
		code, _ := call(b.base, "GET", "/v1/partnerships", "")
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
		"SELECT count() FROM audit_log WHERE entity = 'link' AND entity_id = 'fresh'",
		"SELECT count() FROM audit_log WHERE entity = 'partnership' AND entity_id = 'acme-de' AND action = 'set_terms'",
		"SELECT count() FROM audit_log WHERE entity = 'token' AND action = 'revoke'",
	} {
		n += count(t, db, q)
	}
	if n != 4 {
		b, _ := json.Marshal(n)
		t.Fatalf("audit entries = %s, want 4 (link create + pause, terms, token revoke)", b)
	}
}
