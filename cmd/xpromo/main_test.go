package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xpromo/xpromo/app"
	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/lib/secrets"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestMain lets tests run this binary as the real command in a child
// process (XPROMO_TEST_MAIN=1), e.g. an ingester they can SIGKILL.
func TestMain(m *testing.M) {
	clock = testenv.Clock() // XPROMO_TEST_NOW moves it, in child processes too
	if os.Getenv("XPROMO_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// cmdOutput runs the command path ("partner secret") with args as main
// does, within 30 s, and returns what it printed and its error.
func cmdOutput(t *testing.T, path string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var o, e bytes.Buffer
	_, err = execute(ctx, append(strings.Fields(path), args...), &o, &e)
	return o.String(), e.String(), err
}

// setServerKey sets a new server key in the environment (secrets.EnvKey),
// where serve and the CLI read it, and returns it and its text.
func setServerKey(t *testing.T) (*secrets.Key, string) {
	t.Helper()
	key, text, err := secrets.Generate()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(secrets.EnvKey, text)
	return key, text
}

// parseFlags parses args with f as its command does before it runs.
func parseFlags(f *flags, args []string) error {
	if err := f.Parse(args); err != nil {
		return err
	}
	return errors.Join(f.envErr...)
}

const browserUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"

// catalogs pairs each test ClickHouse database (newDB) with the
// PostgreSQL database of its catalog.
var catalogs sync.Map // *testenv.DB -> *testenv.PG

// newDB is a fresh ClickHouse database for the events, paired with a
// fresh PostgreSQL database for the catalog (pgOf): the two a command or
// serve is given together.
func newDB(t *testing.T) *testenv.DB {
	t.Helper()
	db := testenv.ClickHouse(t)
	catalogs.Store(db, testenv.Postgres(t))
	t.Cleanup(func() { catalogs.Delete(db) })
	return db
}

// sharedCatalog pairs other (db reached another way, say) with db's
// catalog database, and returns it.
func sharedCatalog(t *testing.T, other, db *testenv.DB) *testenv.DB {
	catalogs.Store(other, pgOf(db))
	t.Cleanup(func() { catalogs.Delete(other) })
	return other
}

// pgOf is the catalog database paired with db by newDB.
func pgOf(db *testenv.DB) *testenv.PG {
	pg, ok := catalogs.Load(db)
	if !ok {
		panic("no PostgreSQL database paired with " + db.Name + ": make it with newDB")
	}
	return pg.(*testenv.PG)
}

// pgCount is count on the catalog database paired with db.
func pgCount(t *testing.T, db *testenv.DB, q string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := pgOf(db).Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// waitPGCount is waitCount on the catalog database paired with db.
func waitPGCount(t *testing.T, db *testenv.DB, what string, n uint64, q string) {
	t.Helper()
	testenv.WaitFor(t, 30*time.Second, what, func() bool { return pgCount(t, db, q) == n })
}

type server struct {
	base  string
	db    *testenv.DB
	redis *testenv.Redis // set by startSeeded
	stop  func()
	cfg   *app.Config
}

// seed creates the partner acme with partnership acme-de and links demo
// (inbound) and out (outbound).
func seed(t *testing.T, db *testenv.DB) {
	t.Helper()
	addCatalog(t, db, catalogSeed{
		partners:     []catalog.Partner{{ID: "acme", Name: "ACME", Domains: []string{"acme.example"}}},
		partnerships: []catalog.Partnership{{ID: "acme-de", Partner: "acme", Country: "DE", Direction: vocab.Both}},
		links: []catalog.Link{
			{Code: "demo", Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://www.example.com/welcome?utm_source=acme#start", Campaign: "c1"},
			{Code: "out", Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://shop.acme.example/offer"},
		},
	})
}

// catalogSeed is what a test adds to the catalog, in this order.
type catalogSeed struct {
	partners     []catalog.Partner
	partnerships []catalog.Partnership
	links        []catalog.Link
}

// addCatalog adds c to db's catalog as the user "test".
func addCatalog(t *testing.T, db *testenv.DB, c catalogSeed) {
	t.Helper()
	ctx := context.Background()
	s := catalog.NewStore(pgOf(db).Pool).WithClock(testenv.Clock())
	for _, p := range c.partners {
		if _, err := s.AddPartner(ctx, p, "test"); err != nil {
			t.Fatal(err)
		}
	}
	for _, ps := range c.partnerships {
		if _, err := s.AddPartnership(ctx, ps, "test"); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range c.links {
		if _, err := s.AddLink(ctx, l, "test"); err != nil {
			t.Fatal(err)
		}
	}
}

// startSeeded runs serve, as startServe, on a new test database seeded
// with seed and a new Redis key prefix.
func startSeeded(t *testing.T, opts ...func(*app.Config)) *server {
	t.Helper()
	db := newDB(t)
	r := testenv.NewRedis(t)
	seed(t, db)
	s := startServe(t, r.URL, r.Prefix, db, opts...)
	s.redis = r
	return s
}

// startServeLogged is startSeeded with the server's log written to sink,
// as text or JSON (jsonLog), at debug level, so a test can read every line
// it wrote.
func startServeLogged(t *testing.T, sink io.Writer, jsonLog bool) *server {
	t.Helper()
	db := newDB(t)
	r := testenv.NewRedis(t)
	seed(t, db)
	c := testServeConfig(t, r.URL, r.Prefix, db)
	hopts := &slog.HandlerOptions{Level: slog.LevelDebug}
	var h slog.Handler = slog.NewTextHandler(sink, hopts)
	if jsonLog {
		h = slog.NewJSONHandler(sink, hopts)
	}
	return startTestServe(t, c, db, slog.New(h))
}

// startServe runs serve in-process on a free port.
func startServe(t *testing.T, redisURL, prefix string, db *testenv.DB, opts ...func(*app.Config)) *server {
	t.Helper()
	return startTestServe(t, testServeConfig(t, redisURL, prefix, db, opts...), db, testenv.Logger(t))
}

// testServeConfig is serve's configuration for tests: a private data dir,
// short refreshes and a generous commit timeout (the race detector slows
// everything), then opts.
func testServeConfig(t *testing.T, redisURL, prefix string, db *testenv.DB, opts ...func(*app.Config)) *app.Config {
	t.Helper()
	c := &app.Config{
		RedisURL:       redisURL,
		ClickHouseURL:  db.URL,
		PostgresURL:    pgOf(db).URL,
		KeyPrefix:      prefix,
		Clock:          clock,
		HTTPAddr:       "127.0.0.1:0",
		TrustedProxies: "127.0.0.0/8,::1/128",
		DataDir:        t.TempDir(),
		Ingest:         true,
		CommitTimeout:  50 * time.Millisecond,
		CatalogRefresh: 100 * time.Millisecond,
		ShutdownWait:   15 * time.Second,
		Batching:       app.Batching{BatchSize: 5000, FlushInterval: 100 * time.Millisecond, ClaimIdle: 2 * time.Second},
	}
	if os.Getenv("XPROMO_TEST_NO_INGEST") == "1" {
		c.Ingest = false
	}
	for _, o := range opts {
		o(c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// startTestServe runs serve with c and log until the test ends.
func startTestServe(t *testing.T, c *app.Config, db *testenv.DB, log *slog.Logger) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	c.Ready = ready
	go func() { done <- app.Serve(ctx, c, log) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve returned %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &server{base: "http://" + addr, db: db, stop: stop, cfg: c}
}

var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

func get(t *testing.T, c *http.Client, method, u, xff, ua string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	req.Header.Set("User-Agent", ua)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	resp.Body.Close()
	return resp
}

func clickID(t *testing.T, resp *http.Response) string {
	t.Helper()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	id := loc.Query().Get("xp_click")
	if !ids.Valid(id) {
		t.Fatalf("Location %q has no valid xp_click", loc)
	}
	return id
}

// call sends an API request with token (none when "") and returns the
// status and body.
func call(t *testing.T, method, u, token, ctype, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// newToken creates a token as spec says and waits until serve accepts it.
func newToken(t *testing.T, s *server, spec auth.Spec) string {
	t.Helper()
	tok, _, err := auth.NewStore(pgOf(s.db).Pool).WithClock(testenv.Clock()).Create(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "token accepted", func() bool {
		code, _ := call(t, "GET", s.base+"/v1/audit?limit=1", tok, "", "")
		return code != http.StatusUnauthorized
	})
	return tok
}

// insertRows writes rows into db in one batch; insert is a table's
// InsertOnly statement naming the rows' columns.
func insertRows(t *testing.T, db *testenv.DB, insert string, rows ...[]any) {
	t.Helper()
	b, err := db.Conn.PrepareBatch(context.Background(), insert)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := b.Append(r...); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// column is the first column of q's rows, as strings.
func column(t *testing.T, db *testenv.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Conn.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out = append(out, v)
	}
	return out
}

// sha256Hex is the hex SHA-256 of b, as stored in place of secrets and ids.
func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// attributeToday runs `xpromo attribute` over today.
func attributeToday(t *testing.T, db *testenv.DB) {
	t.Helper()
	day := testenv.Now().UTC().Format(time.DateOnly)
	if code, out, errOut := cliRun(t, db, "attribute", "--from", day, "--to", day); code != 0 {
		t.Fatalf("attribute: %s %s", out, errOut)
	}
}

// wantCounts checks each count query of want against its number.
func wantCounts(t *testing.T, db *testenv.DB, want map[string]uint64) {
	t.Helper()
	for q, w := range want {
		if n := count(t, db, q); n != w {
			t.Errorf("%s: %d, want %d", q, n, w)
		}
	}
}

// waitCount waits up to 30 s, as for the ingester, until q counts n.
func waitCount(t *testing.T, db *testenv.DB, what string, n uint64, q string) {
	t.Helper()
	testenv.WaitFor(t, 30*time.Second, what, func() bool { return count(t, db, q) == n })
}

func count(t *testing.T, db *testenv.DB, q string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := db.Conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// N redirects from several countries, via X-Forwarded-For from a trusted
// proxy, give exactly N clicks in the report, per country.
func TestRedirectsCountedPerCountry(t *testing.T) {
	s := startSeeded(t)
	db := s.db

	sent := map[string]int{"US": 37, "GB": 23, "DE": 41}
	ips := map[string]string{"US": "8.8.8.8", "GB": "81.2.69.142", "DE": "2a00:1450:4001:80b::200e"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]bool{}
	for cc, n := range sent {
		for i := 0; i < n; i++ {
			wg.Go(func() {
				// A client-written address left of the proxy's must be ignored.
				resp := get(t, noRedirect, "GET", s.base+"/r/demo", "1.2.3.4, "+ips[cc], browserUA)
				id := clickID(t, resp)
				if !strings.HasPrefix(resp.Header.Get("Location"), "https://www.example.com/welcome?utm_source=acme&xp_click=") ||
					!strings.HasSuffix(resp.Header.Get("Location"), "#start") {
					t.Errorf("Location = %q", resp.Header.Get("Location"))
				}
				mu.Lock()
				seen[id] = true
				mu.Unlock()
			})
		}
	}
	// Bots: counted only with include_bots.
	for i := 0; i < 5; i++ {
		clickID(t, get(t, noRedirect, "GET", s.base+"/r/demo", "8.8.8.8", "curl/8.5.0"))
	}
	if resp := get(t, noRedirect, "HEAD", s.base+"/r/demo", "8.8.8.8", browserUA); resp.StatusCode != http.StatusFound {
		t.Fatalf("HEAD: %d", resp.StatusCode)
	}
	wg.Wait()
	if len(seen) != 101 {
		t.Fatalf("%d distinct click ids for 101 clicks", len(seen))
	}

	filter := reports.Params{From: testenv.Now().UTC().AddDate(0, 0, -1), To: testenv.Now().UTC()}
	var rows []visitorRow
	waitCount(t, db, "107 hits in ClickHouse", 107, "SELECT count() FROM hits")
	rows, err := visitorRows(db, filter)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, row := range rows {
		if row.Partnership != "acme-de" || row.Partner != "acme" {
			t.Errorf("unexpected row %+v", row)
		}
		got[row.Country] = row.Clicks
		if row.UniqueVisitors != row.Clicks {
			t.Errorf("%s: %d unique visitors for %d cookie-less clicks", row.Country, row.UniqueVisitors, row.Clicks)
		}
	}
	for cc, n := range sent {
		if got[cc] != uint64(n) {
			t.Errorf("%s: %d clicks in the report, sent %d", cc, got[cc], n)
		}
	}
	if len(got) != 3 {
		t.Errorf("report countries %v, want US, GB, DE only", got)
	}
	filter.IncludeBots = true
	rows, _ = visitorRows(db, filter)
	var all uint64
	for _, row := range rows {
		all += row.Clicks
	}
	if all != 107 {
		t.Errorf("with bots: %d clicks, want 107", all)
	}
	if n := count(t, db, "SELECT count() FROM hits WHERE kind = 'click' AND is_bot = 1"); n != 6 {
		t.Errorf("bot clicks stored = %d, want 6 (5 curl + 1 HEAD)", n)
	}

	// Every answer is timed by its route pattern; paths no route knows
	// share one label, whatever they are.
	for _, p := range []string{"/no/such/path", "/another/%00/one"} {
		get(t, noRedirect, "GET", s.base+p, "", browserUA)
	}
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`xpromo_http_request_duration_seconds_count{route="/r/:code"} 107`,
		`xpromo_http_request_duration_seconds_count{route="unmatched"} 2`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics (%d) lacks %q:\n%s", resp.StatusCode, want, grepLines(string(body), "xpromo_http"))
		}
	}
	if strings.Contains(string(body), "no/such/path") {
		t.Error("/metrics names a path no route knows")
	}
}

func TestVisitorCookie(t *testing.T) {
	s := startSeeded(t)
	db := s.db
	resp := get(t, noRedirect, "GET", s.base+"/r/demo", "", browserUA)
	var vid *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "xp_vid" {
			vid = c
		}
	}
	if vid == nil || !vid.HttpOnly || vid.SameSite != http.SameSiteLaxMode || vid.MaxAge != 365*24*3600 || vid.Secure {
		t.Fatalf("xp_vid cookie = %+v", vid)
	}
	// The same visitor again, now behind a TLS-terminating trusted proxy.
	req, _ := http.NewRequest("GET", s.base+"/r/demo", nil)
	req.Header.Set("User-Agent", browserUA)
	req.Header.Set("X-Forwarded-Proto", "https")
	req.AddCookie(&http.Cookie{Name: "xp_vid", Value: vid.Value})
	resp2, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	for _, c := range resp2.Cookies() {
		if c.Name == "xp_vid" && (c.Value != vid.Value || !c.Secure) {
			t.Errorf("second cookie = %+v, want same value and Secure", c)
		}
	}
	waitCount(t, db, "2 clicks stored", 2, "SELECT count() FROM hits")
	if n := count(t, db, "SELECT uniqExact(visitor) FROM hits"); n != 1 {
		t.Errorf("visitors = %d, want 1", n)
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"serve", "--help"}, {"ingest", "--help"}, {"migrate", "--help"},
		{"partner", "--help"}, {"partner", "add", "--help"}, {"partner", "list", "--help"},
		{"partnership", "add", "--help"}, {"link", "add", "--help"}, {"link", "list", "--help"},
		{"report", "--help"}, {"report", "partnerships", "--help"}, {"demo", "--help"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 0 {
			t.Errorf("xpromo %v: exit %d, stderr %s", args, code, errb.String())
		}
		if !strings.Contains(out.String()+errb.String(), "Usage: xpromo") {
			t.Errorf("xpromo %v printed no usage:\n%s%s", args, out.String(), errb.String())
		}
	}
}

func TestBadArgumentsExitNonZero(t *testing.T) {
	for _, args := range [][]string{
		{}, {"nope"}, {"serve", "--no-such-flag"}, {"serve", "--trusted-proxies", "999.1.1.1/8"},
		{"report", "partnerships", "--from", "yesterday"}, {"report", "partnerships", "--format", "xml"},
		{"partner", "frob"}, {"serve", "extra-arg"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code == 0 {
			t.Errorf("xpromo %v: exit 0", args)
		} else if errb.Len() == 0 {
			t.Errorf("xpromo %v: no error message", args)
		}
	}
}

func TestEnvironmentFallback(t *testing.T) {
	t.Setenv("XPROMO_HTTP_ADDR", "127.0.0.1:9999")
	t.Setenv("XPROMO_INGEST", "false")
	t.Setenv("XPROMO_COMMIT_TIMEOUT", "7ms")
	f := newFlags("serve", "serve", "")
	var c app.Config
	f.String(&c.HTTPAddr, "http-addr", ":8080", "")
	f.Bool(&c.Ingest, "ingest", true, "")
	f.Duration(&c.CommitTimeout, "commit-timeout", 5*time.Millisecond, "")
	if err := parseFlags(f, nil); err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:9999" || c.Ingest || c.CommitTimeout != 7*time.Millisecond {
		t.Fatalf("env not used: %+v", c)
	}
	// A flag beats the environment.
	f = newFlags("serve", "serve", "")
	f.String(&c.HTTPAddr, "http-addr", ":8080", "")
	if err := parseFlags(f, []string{"--http-addr", ":1"}); err != nil || c.HTTPAddr != ":1" {
		t.Fatalf("flag did not win: %v %q", err, c.HTTPAddr)
	}
	t.Setenv("XPROMO_INGEST", "maybe")
	f = newFlags("serve", "serve", "")
	f.Bool(&c.Ingest, "ingest", true, "")
	if err := parseFlags(f, nil); err == nil {
		t.Fatal("XPROMO_INGEST=maybe accepted")
	}
}

func newReq(u string) (*http.Request, error) {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", browserUA)
	req.Header.Set("X-Forwarded-For", "8.8.8.8")
	return req, nil
}

// The management API is mounted in serve, behind token authentication,
// with JSON errors.
func TestServeMountsTheAPI(t *testing.T) {
	s := startSeeded(t)
	db := s.db
	ctx := context.Background()
	secret, _, err := auth.NewStore(pgOf(db).Pool).WithClock(testenv.Clock()).Create(ctx, auth.Spec{Role: access.RoleAdmin, Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	apiGet := func(path, token string) (int, string) {
		return call(t, "GET", s.base+path, token, "", "")
	}
	if code, body := apiGet("/v1/partnerships", ""); code != 401 || !strings.Contains(body, `"error"`) {
		t.Fatalf("no token: %d %s", code, body)
	}
	// A token created after start works once the verifier reloads (1 s).
	var code int
	var body string
	testenv.WaitFor(t, 10*time.Second, "token accepted", func() bool {
		code, body = apiGet("/v1/partnerships", secret)
		return code == 200
	})
	if !strings.Contains(body, `"acme-de"`) {
		t.Fatalf("partnerships: %s", body)
	}
	if code, body := apiGet("/v1/openapi.json", ""); code != 200 || !strings.Contains(body, `"openapi": "3.0`) {
		t.Fatalf("openapi.json without a token: %d %.200s", code, body)
	}
	if code, body := apiGet("/v1/no-such-route", secret); code != 404 || !strings.Contains(body, `"error":"not_found"`) {
		t.Fatalf("unknown route: %d %s", code, body)
	}
}

// grepLines is the lines of s that contain sub, for failure messages.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// visitorRow is a row of the visitors report; Country is the visitor's.
type visitorRow struct {
	Partnership, Partner, Country string
	Clicks, UniqueVisitors        uint64
}

// visitorRows runs the visitors report as the CLI does, on the catalog
// as stored now.
func visitorRows(db *testenv.DB, p reports.Params) ([]visitorRow, error) {
	ctx := context.Background()
	snap, err := catalog.NewStore(pgOf(db).Pool).WithClock(testenv.Clock()).Load(ctx)
	if err != nil {
		return nil, err
	}
	env, err := reports.NewEnv(ctx, db.Conn, pgOf(db).Pool, snap)
	if err != nil {
		return nil, err
	}
	tab, err := reports.VisitorsReport(ctx, env, p)
	if err != nil {
		return nil, err
	}
	out := make([]visitorRow, len(tab.Rows))
	for i, r := range tab.Rows {
		out[i] = visitorRow{Partnership: r[1].(string), Partner: r[2].(string), Country: r[4].(string), Clicks: r[5].(uint64), UniqueVisitors: r[6].(uint64)}
	}
	return out, nil
}
