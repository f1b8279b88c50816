package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestReadyz: serve's /readyz answers 200 {"clickhouse":"ok","redis":"ok"}
// while both answer, and 503 naming the one that does not (its error in
// place of "ok", the other still "ok"), and 200 again once it is back. serve
// cannot start without ClickHouse (it loads the catalog), so it reaches
// each server through a testenv.Proxy the test takes down and back up.
func TestReadyz(t *testing.T) {
	db := testenv.ClickHouse(t)
	r := testenv.NewRedis(t)
	chURL, chProxy := viaProxy(t, db.URL)
	redisURL, redisProxy := viaProxy(t, r.URL)
	s := startServe(t, redisURL, r.Prefix, &testenv.DB{Conn: db.Conn, Name: db.Name, URL: chURL})

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
	ready := func(what string) {
		t.Helper()
		var code int
		var status map[string]string
		testenv.WaitFor(t, 20*time.Second, what, func() bool {
			code, status = readyz()
			return code == http.StatusOK
		})
		if len(status) != 2 || status["redis"] != "ok" || status["clickhouse"] != "ok" {
			t.Fatalf("%s: 200 %v, want both ok", what, status)
		}
	}
	notReady := func(what, down, up string) {
		t.Helper()
		code, status := readyz()
		if code != http.StatusServiceUnavailable || status[up] != "ok" || status[down] == "" || status[down] == "ok" {
			t.Fatalf("%s: %d %v, want 503 with %s's error and %s ok", what, code, status, down, up)
		}
		t.Logf("%s: 503 %v", what, status)
	}

	ready("both up")
	chProxy.SetDown(true)
	notReady("ClickHouse unreachable", "clickhouse", "redis")
	chProxy.SetDown(false)
	ready("ClickHouse back")
	redisProxy.SetDown(true)
	notReady("Redis unreachable", "redis", "clickhouse")
	redisProxy.SetDown(false)
	ready("Redis back")
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
