package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// postgresStopped takes PostgreSQL, the catalog of record, away while the
// load runs: its proxy cuts every connection and refuses new ones, as a
// stopped server does. Captures go on from the tracker's copy of the
// catalog (RunFault's invariant checks them); meanwhile a catalog write
// through the API answers 503 with Retry-After and the API's JSON error,
// a report (the tracker's copy of the catalog and ClickHouse) answers
// 200, the API's catalog reads (a link, the audit log: read from
// PostgreSQL, so that a client reads its own writes) answer 503 with
// Retry-After, and /readyz stays 200 naming PostgreSQL down. Once it is back, with no process restarted, a
// write succeeds and its new link redirects as soon as the tracker has
// applied the change.
func postgresStopped(t testing.TB, e *Env, f Form) string {
	e.PGProxy.Set(Down, 0)
	t0 := time.Now()
	var notes []string

	start := time.Now()
	r := e.api(t, "POST", "/v1/links", newLink("pg-down"))
	took := time.Since(start)
	var body struct{ Error, Reason string }
	_ = json.Unmarshal(r.body, &body)
	if r.code != http.StatusServiceUnavailable || r.hdr.Get("Retry-After") == "" || body.Error != "unavailable" {
		t.Errorf("POST /v1/links with PostgreSQL down: %d Retry-After %q %s; want 503, Retry-After, error \"unavailable\"",
			r.code, r.hdr.Get("Retry-After"), r.body)
	}
	if took > MaxAnswer {
		t.Errorf("POST /v1/links with PostgreSQL down took %v: it waited on the dependency", took)
	}
	notes = append(notes, fmt.Sprintf("down %v: POST /v1/links %d in %v (Retry-After %s)",
		f.PostgresDown, r.code, took.Round(time.Millisecond), r.hdr.Get("Retry-After")))

	for _, read := range []struct {
		path string
		want int
		says string // in the body
	}{
		{"/v1/reports/partnerships", http.StatusOK, ""},
		// Served from the trackers' copy, without the notes kept only in
		// PostgreSQL, and saying so.
		{"/v1/insights/partners", http.StatusOK, "playbook notes and origins are left out"},
		{"/v1/links/demo", http.StatusServiceUnavailable, ""},
		{"/v1/audit", http.StatusServiceUnavailable, ""},
	} {
		r := e.api(t, "GET", read.path, "")
		if r.code != read.want || (r.code == http.StatusServiceUnavailable && r.hdr.Get("Retry-After") == "") || !strings.Contains(string(r.body), read.says) {
			t.Errorf("GET %s with PostgreSQL down: %d Retry-After %q %.200s; want %d saying %q", read.path, r.code, r.hdr.Get("Retry-After"), r.body, read.want, read.says)
		}
		notes = append(notes, fmt.Sprintf("GET %s %d", strings.TrimPrefix(read.path, "/v1"), r.code))
	}

	code, status := e.readyz(t)
	if code != http.StatusOK || status["postgres"] == "ok" || status["postgres"] == "" || status["redis"] != "ok" || status["clickhouse"] != "ok" {
		t.Errorf("/readyz with PostgreSQL down: %d %v; want 200, redis and clickhouse ok, postgres its error", code, status)
	}
	t.Logf("/readyz with PostgreSQL down: %d %v", code, status)
	notes = append(notes, fmt.Sprintf("/readyz %d", code))

	time.Sleep(f.PostgresDown - time.Since(t0))
	e.PGProxy.Set(Up, 0)
	back := time.Now()

	// The first write after the repair: the pool makes new connections
	// by itself. A 503 changed nothing, so it may be retried.
	attempts := 0
	for {
		attempts++
		r = e.api(t, "POST", "/v1/links", newLink("pg-back"))
		if r.code == http.StatusCreated || r.code != http.StatusServiceUnavailable || time.Since(back) > 5*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.code != http.StatusCreated {
		t.Errorf("POST /v1/links after PostgreSQL came back: %d %s after %d attempts", r.code, r.body, attempts)
		return strings.Join(notes, ", ")
	}
	written := time.Now()
	notes = append(notes, fmt.Sprintf("back: POST /v1/links 201 %v after (attempt %d)", written.Sub(back).Round(time.Millisecond), attempts))

	// The tracker applies the change (its catalog's deltas, triggered by
	// the write) and redirects the new link.
	noFollow := &http.Client{Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	redirected := false
	for time.Since(written) < 5*time.Second {
		resp, err := noFollow.Get(e.Base + "/r/pg-back")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), "https://www.example.com/pg-back") {
				redirected = true
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !redirected {
		t.Error("the link created after PostgreSQL came back does not redirect within 5 s")
	} else {
		notes = append(notes, fmt.Sprintf("its link redirecting %v later", time.Since(written).Round(time.Millisecond)))
	}
	if code, status := e.readyz(t); code != http.StatusOK || status["postgres"] != "ok" {
		t.Errorf("/readyz after PostgreSQL came back: %d %v", code, status)
	}
	return strings.Join(notes, ", ")
}

// newLink is a POST /v1/links body for a link of the seeded partnership.
func newLink(code string) string {
	return `{"code":"` + code + `","partnership":"acme-de","direction":"inbound","url":"https://www.example.com/` + code + `"}`
}

// apiAnswer is an answer of the API, read whole.
type apiAnswer struct {
	code int
	hdr  http.Header
	body []byte
}

// api calls the tracker's API with the admin token; a request that got
// no answer fails the test.
func (e *Env) api(t testing.TB, method, path, body string) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(method, e.Base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.Admin)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return apiAnswer{code: resp.StatusCode, hdr: resp.Header, body: b}
}

// readyz is the tracker's /readyz: its status and each server's state.
func (e *Env) readyz(t testing.TB) (int, map[string]string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(e.Base + "/readyz")
	if err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	defer resp.Body.Close()
	var status map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		t.Fatalf("/readyz: %d: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, status
}
