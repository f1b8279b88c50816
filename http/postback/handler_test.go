package postback

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/testkit/testenv"
	"github.com/xpromo/xpromo/tracker/conversion"
	"github.com/xpromo/xpromo/tracker/hit"
)

// recording stands in for the buffer: the buffer is not what is tested.
type recording struct {
	mu   sync.Mutex
	hits []hit.Hit
	err  error
}

func (r *recording) Submit(h *hit.Hit) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.hits = append(r.hits, *h)
	return nil
}

func (r *recording) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.hits)
}

func (r *recording) last() hit.Hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[len(r.hits)-1]
}

type fixture struct {
	t       *testing.T
	db      *testenv.DB
	rdb     *testenv.Redis
	store   *Store
	snap    *catalog.Snapshot
	sub     *recording
	logs    *testenv.LogBuffer
	secret  string // acme's current secret
	now     time.Time
	handler *Handler
	e       *echo.Echo
}

// newFixture: partners acme (active, with a secret), gone (archived, with
// a secret) and bare (active, no secret yet).
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, db: testenv.ClickHouse(t), rdb: testenv.NewRedis(t), sub: &recording{}, logs: &testenv.LogBuffer{}}
	pg := testenv.Postgres(t)
	cs := catalog.NewStore(pg.Pool)
	for _, id := range []string{"acme", "gone", "bare"} {
		if _, err := cs.AddPartner(ctx, catalog.Partner{ID: id, Name: id}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	archived := catalog.StatusArchived
	if _, err := cs.UpdatePartner(ctx, "gone", catalog.PartnerChange{Status: &archived}, "test"); err != nil {
		t.Fatal(err)
	}
	snap, err := cs.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.snap = snap
	f.store = NewStore(pg.Pool, testKey(t, 7), nil)
	if f.secret, err = f.store.Rotate(ctx, "acme", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Rotate(ctx, "gone", "test"); err != nil {
		t.Fatal(err)
	}
	f.now = time.Now().Truncate(time.Second)
	f.handler = f.newHandler(f.rdb.Client, f.rdb.Client, f.sub)
	f.e = echo.New()
	f.handler.Register(f.e)
	return f
}

// newHandler makes a handler whose replay guard uses guard and whose
// recorder uses dedup.
func (f *fixture) newHandler(guard, dedup *redis.Client, sub conversion.Submitter) *Handler {
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rec := conversion.NewRecorder(dedup, f.rdb.Prefix, sub, nil)
	h := New(f.store, func() *catalog.Snapshot { return f.snap }, rec, guard, f.rdb.Prefix, log)
	h.now = func() time.Time { return f.now }
	h.wall = h.now
	return h
}

func (f *fixture) params(kv ...string) map[string]string {
	p := map[string]string{"ts": strconv.FormatInt(f.now.Unix(), 10)}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(p, kv[i])
			continue
		}
		p[kv[i]] = kv[i+1]
	}
	return p
}

func purchase(order string) []string {
	return []string{"type", "purchase", "click_id", "01KB8ZQ0W6M5R2X4T7Y9A3C5E7", "order_id", order, "user_id", "pu-1", "amount", "19.99", "currency", "eur", "occurred_at", "2026-01-31T17:58:12Z"}
}

func encode(p map[string]string) string {
	v := url.Values{}
	for k, x := range p {
		v.Set(k, x)
	}
	return v.Encode()
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// get sends GET /v1/postback/partner?raw through h (the fixture's handler when nil).
func (f *fixture) send(h *Handler, method, partner, rawQuery, body, contentType string) answer {
	f.t.Helper()
	e := f.e
	if h != nil {
		e = echo.New()
		h.Register(e)
	}
	target := "/v1/postback/" + url.PathEscape(partner)
	if rawQuery != "" {
		target += "?" + rawQuery
	}
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.RemoteAddr = "203.0.113.9:4711"
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	a := answer{status: w.Code, header: w.Header(), raw: w.Body.String()}
	if err := json.Unmarshal(w.Body.Bytes(), &a.body); err != nil {
		f.t.Fatalf("%s %s: body %q is not JSON: %v", method, target, w.Body.String(), err)
	}
	return a
}

func (f *fixture) get(partner string, p map[string]string) answer {
	f.t.Helper()
	return f.send(nil, http.MethodGet, partner, encode(p), "", "")
}

func (f *fixture) signed(secret string, p map[string]string) map[string]string {
	p[ParamSig] = Sign(secret, p)
	return p
}

func wantRefused(t *testing.T, a answer, reason string) {
	t.Helper()
	if a.status != http.StatusUnauthorized || a.body["error"] != "unauthorized" || a.body["reason"] != reason {
		t.Fatalf("answer %d %s, want 401 %q", a.status, a.raw, reason)
	}
}

func TestHandlerAccepts(t *testing.T) {
	f := newFixture(t)

	// GET with the query.
	p := f.signed(f.secret, f.params(purchase("A-1001")...))
	a := f.get("acme", p)
	if a.status != http.StatusOK || a.body["duplicate"] != false || a.body["id"] == "" {
		t.Fatalf("first postback: %d %s", a.status, a.raw)
	}
	if a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q", a.header.Get("Cache-Control"))
	}
	h := f.sub.last()
	if h.ID != a.body["id"] || h.Kind != hit.KindConversion || h.Source != "partner:acme" || h.Partner != "acme" || h.Country != "ZZ" ||
		h.Event != "purchase" || h.OrderID != "A-1001" || h.UserID != "pu-1" || h.ClickRef != "01KB8ZQ0W6M5R2X4T7Y9A3C5E7" ||
		h.Amount != "19.99" || h.Currency != "EUR" || !h.OccurredAt.Equal(time.Date(2026, 1, 31, 17, 58, 12, 0, time.UTC)) || h.Duplicate {
		t.Fatalf("recorded hit %+v", h)
	}

	// The identical request again (a retry within the same second, so
	// the same ts and signature): answered as a repeat of the first, with
	// its id; nothing more is recorded.
	first := a.body["id"]
	if a := f.get("acme", p); a.status != http.StatusOK || a.body["id"] != first || a.body["duplicate"] != true {
		t.Fatalf("identical retry: %d %s, want 200 with id %v as a duplicate", a.status, a.raw, first)
	}
	if f.sub.count() != 1 {
		t.Fatalf("a replay was recorded: %d hits", f.sub.count())
	}

	// The same order with a new signature (a new ts): recorded, marked duplicate.
	f.now = f.now.Add(time.Second)
	a = f.get("acme", f.signed(f.secret, f.params(purchase("A-1001")...)))
	if a.status != http.StatusOK || a.body["duplicate"] != true || a.body["id"] == p["id"] {
		t.Fatalf("same order, new sig: %d %s", a.status, a.raw)
	}
	if f.sub.count() != 2 || !f.sub.last().Duplicate {
		t.Fatalf("duplicate not recorded as one: %d hits", f.sub.count())
	}

	// POST with a form body; signup; unicode user id; an extra (signed) parameter.
	sp := f.signed(f.secret, f.params("type", "signup", "user_id", "Jürgen Groß 東京", "click_id", "01KB8ZQ0W6M5R2X4T7Y9A3C5E7", "sub_id", "x y"))
	a = f.send(nil, http.MethodPost, "acme", "", encode(sp), "application/x-www-form-urlencoded; charset=utf-8")
	if a.status != http.StatusOK || a.body["duplicate"] != false {
		t.Fatalf("POST signup: %d %s", a.status, a.raw)
	}
	if h := f.sub.last(); h.Event != "signup" || h.UserID != "Jürgen Groß 東京" || h.Amount != "" || !h.OccurredAt.Equal(f.now.UTC()) {
		t.Fatalf("signup hit %+v", h)
	}

	// A refund of the whole order: no amount, no currency.
	a = f.get("acme", f.signed(f.secret, f.params("type", "refund", "order_id", "A-1001")))
	if a.status != http.StatusOK || a.body["duplicate"] != false {
		t.Fatalf("whole-order refund: %d %s", a.status, a.raw)
	}
	if h := f.sub.last(); h.Event != "refund" || h.Amount != "0" || h.Currency != "" {
		t.Fatalf("whole-order refund hit %+v", h)
	}
	f.now = f.now.Add(time.Second)

	// POST with some parameters in the query and the rest in the body.
	rp := f.signed(f.secret, f.params("type", "refund", "order_id", "A-1001", "amount", "5", "currency", "EUR"))
	q := url.Values{"sig": {rp["sig"]}, "ts": {rp["ts"]}}
	delete(rp, "sig")
	delete(rp, "ts")
	a = f.send(nil, http.MethodPost, "acme", q.Encode(), encode(rp), "application/x-www-form-urlencoded")
	if a.status != http.StatusOK {
		t.Fatalf("POST query+body: %d %s", a.status, a.raw)
	}
	if h := f.sub.last(); h.Event != "refund" || h.Amount != "5" {
		t.Fatalf("refund hit %+v", h)
	}

	// After a rotation the previous secret still works; after another, not.
	ctx := context.Background()
	s2, err := f.store.Rotate(ctx, "acme", "test")
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []string{f.secret, s2} {
		if a := f.get("acme", f.signed(s, f.params(purchase("R-"+strconv.Itoa(i))...))); a.status != http.StatusOK {
			t.Fatalf("secret %d after one rotation: %d %s", i, a.status, a.raw)
		}
	}
	if _, err := f.store.Rotate(ctx, "acme", "test"); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, f.get("acme", f.signed(f.secret, f.params(purchase("R-9")...))), ReasonBadSignature)
	if a := f.get("acme", f.signed(s2, f.params(purchase("R-10")...))); a.status != http.StatusOK {
		t.Fatalf("previous secret after two rotations: %d %s", a.status, a.raw)
	}
}

func TestHandlerRefuses(t *testing.T) {
	f := newFixture(t)
	good := func(kv ...string) map[string]string { return f.params(append(purchase("O-1"), kv...)...) }
	tsAt := func(d time.Duration) string { return strconv.FormatInt(f.now.Add(d).Unix(), 10) }

	tests := []struct {
		name    string
		partner string
		p       map[string]string
		secret  string // "" means acme's
		sig     string // overrides the computed sig
		reason  string
		log     string // the reason logged, when it differs
	}{
		{name: "unknown partner", partner: "nobody", p: good(), reason: ReasonBadSignature, log: "unknown partner"},
		{name: "archived partner", partner: "gone", p: good(), reason: ReasonBadSignature, log: "archived partner"},
		{name: "partner without a secret", partner: "bare", p: good(), reason: ReasonBadSignature, log: "no secret"},
		{name: "wrong secret", partner: "acme", p: good(), secret: "xps_guess", reason: ReasonBadSignature},
		{name: "tampered value", partner: "acme", p: good(), sig: Sign("", nil), reason: ReasonBadSignature},
		{name: "missing sig", partner: "acme", p: good(), sig: "-", reason: ReasonMissingSig},
		{name: "missing ts", partner: "acme", p: good("ts", ""), reason: ReasonMissingTS},
		{name: "missing ts, unknown partner", partner: "nobody", p: good("ts", ""), reason: ReasonMissingTS},
		{name: "ts not seconds", partner: "acme", p: good("ts", "soon"), reason: ReasonBadTS},
		{name: "ts 6 minutes old", partner: "acme", p: good("ts", tsAt(-6*time.Minute)), reason: ReasonStaleTS},
		{name: "ts 6 minutes ahead", partner: "acme", p: good("ts", tsAt(6*time.Minute)), reason: ReasonStaleTS},
		{name: "stale ts, unknown partner", partner: "nobody", p: good("ts", tsAt(-time.Hour)), reason: ReasonStaleTS},
	}
	bodies := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			secret := tt.secret
			if secret == "" {
				secret = f.secret
			}
			switch tt.sig {
			case "":
				p[ParamSig] = Sign(secret, p)
			case "-":
			default:
				p[ParamSig] = tt.sig
			}
			a := f.get(tt.partner, p)
			wantRefused(t, a, tt.reason)
			if prev, ok := bodies[tt.reason]; ok && prev != a.raw {
				t.Fatalf("answers for %q differ: %s vs %s", tt.reason, prev, a.raw)
			}
			bodies[tt.reason] = a.raw
			logs := f.logs.String()
			want := tt.log
			if want == "" {
				want = tt.reason
			}
			line := lastLine(logs)
			if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "partner="+tt.partner) || !strings.Contains(line, "ip=203.0.113.9") || !strings.Contains(line, want) {
				t.Fatalf("log line %q lacks the partner, ip or reason %q", line, want)
			}
		})
	}
	if f.sub.count() != 0 {
		t.Fatalf("refused postbacks recorded %d hits", f.sub.count())
	}
	logs := f.logs.String()
	if strings.Contains(logs, f.secret) || strings.Contains(logs, "sig=") || strings.Contains(logs, Sign(f.secret, good())) {
		t.Fatalf("logs show a secret or a signature:\n%s", logs)
	}
	// Refusals left no replay marks: the next valid request goes through.
	if a := f.get("acme", f.signed(f.secret, good())); a.status != http.StatusOK {
		t.Fatalf("valid after refusals: %d %s", a.status, a.raw)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestHandlerBadRequests(t *testing.T) {
	f := newFixture(t)
	good := func(kv ...string) map[string]string {
		return f.signed(f.secret, f.params(append(purchase("V-1"), kv...)...))
	}
	// 422: signed, but not a valid conversion.
	for _, tt := range []struct {
		name  string
		p     map[string]string
		field string
	}{
		{"purchase without amount", good("amount", ""), "amount"},
		{"amount with an exponent", good("amount", "1e3"), "amount"},
		{"negative amount", good("amount", "-5"), "amount"},
		{"amount with a comma", good("amount", "19,99"), "amount"},
		{"too many decimals", good("amount", "1.00001"), "amount"},
		{"unknown currency", good("currency", "XXY"), "currency"},
		{"missing currency", good("currency", ""), "currency"},
		{"bad occurred_at", good("occurred_at", "yesterday"), "occurred_at"},
		{"future occurred_at", good("occurred_at", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), "occurred_at"},
		{"bad type", good("type", "install"), "type"},
		{"missing type", good("type", ""), "type"},
		{"purchase without order", good("order_id", ""), "order_id"},
		{"signup without user", f.signed(f.secret, f.params("type", "signup")), "user_id"},
		{"long click id", good("click_id", strings.Repeat("k", 200)), "click_id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := f.get("acme", tt.p)
			if a.status != http.StatusUnprocessableEntity || a.body["error"] != "validation" || a.body["field"] != tt.field || a.body["reason"] == "" {
				t.Fatalf("answer %d %s, want 422 on %s", a.status, a.raw, tt.field)
			}
		})
	}

	// 400: malformed parameter sets, before anything else.
	dup := encode(good()) + "&amount=19.99"
	for _, tt := range []struct {
		name, method, query, body, ct string
		status                        int
	}{
		{"duplicated parameter", http.MethodGet, dup, "", "", http.StatusBadRequest},
		{"parameter in query and body", http.MethodPost, "amount=19.99", encode(good()), "application/x-www-form-urlencoded", http.StatusBadRequest},
		{"control character", http.MethodGet, encode(good("user_id", "a\x1bb")), "", "", http.StatusBadRequest},
		{"body too large", http.MethodPost, "", encode(good()) + "&pad=" + strings.Repeat("a", MaxBody), "application/x-www-form-urlencoded", http.StatusRequestEntityTooLarge},
		{"JSON body", http.MethodPost, "", `{"type":"purchase"}`, "application/json", http.StatusUnsupportedMediaType},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := f.send(nil, tt.method, "acme", tt.query, tt.body, tt.ct)
			if a.status != tt.status || a.body["reason"] == "" {
				t.Fatalf("answer %d %s, want %d", a.status, a.raw, tt.status)
			}
		})
	}
	if f.sub.count() != 0 {
		t.Fatalf("refused postbacks recorded %d hits", f.sub.count())
	}
	// A 422 does not use up the signature's replay mark: fixed, the
	// partner signs again anyway; the same signature still answers 422.
	p := good("amount", "")
	f.get("acme", p)
	if a := f.get("acme", p); a.status != http.StatusUnprocessableEntity {
		t.Fatalf("422 repeated: %d %s", a.status, a.raw)
	}
}

// deadRedis is a client of a port nobody listens on.
func deadRedis(t *testing.T) *redis.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestHandlerUnavailable(t *testing.T) {
	f := newFixture(t)
	p := f.signed(f.secret, f.params(purchase("U-1")...))
	q := encode(p)

	// Redis down: the replay check cannot be made.
	down := f.newHandler(deadRedis(t), deadRedis(t), f.sub)
	a := f.send(down, http.MethodGet, "acme", q, "", "")
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || a.body["error"] != "unavailable" {
		t.Fatalf("Redis down: %d %s (Retry-After %q)", a.status, a.raw, a.header.Get("Retry-After"))
	}

	// The replay guard answers but the duplicate check does not: nothing is
	// recorded, and the guard forgets the signature so the partner's retry
	// of the very same request is accepted.
	half := f.newHandler(f.rdb.Client, deadRedis(t), f.sub)
	a = f.send(half, http.MethodGet, "acme", q, "", "")
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Fatalf("dedup down: %d %s", a.status, a.raw)
	}
	// Likewise when the buffer does not take the hit.
	failing := f.newHandler(f.rdb.Client, f.rdb.Client, &recording{err: errors.New("buffer: hit not durable")})
	a = f.send(failing, http.MethodGet, "acme", q, "", "")
	if a.status != http.StatusServiceUnavailable {
		t.Fatalf("buffer failing: %d %s", a.status, a.raw)
	}
	if f.sub.count() != 0 {
		t.Fatalf("recorded %d hits while unavailable", f.sub.count())
	}
	if a := f.send(nil, http.MethodGet, "acme", q, "", ""); a.status != http.StatusOK || a.body["duplicate"] != false {
		t.Fatalf("retry of the same request: %d %s", a.status, a.raw)
	}

	// No catalog yet.
	noCat := f.newHandler(f.rdb.Client, f.rdb.Client, f.sub)
	noCat.cat = func() *catalog.Snapshot { return nil }
	f.now = f.now.Add(time.Second)
	if a := f.send(noCat, http.MethodGet, "acme", encode(f.signed(f.secret, f.params(purchase("U-2")...))), "", ""); a.status != http.StatusServiceUnavailable {
		t.Fatalf("no catalog: %d %s", a.status, a.raw)
	}
	if f.sub.count() != 1 {
		t.Fatalf("%d hits, want the one retry", f.sub.count())
	}
}

func TestHandlerClientIP(t *testing.T) {
	f := newFixture(t)
	// Without a trusted-proxy policy, X-Forwarded-For is not believed.
	req := httptest.NewRequest(http.MethodGet, "/v1/postback/nobody", nil)
	req.RemoteAddr = "198.51.100.7:1234"
	req.Header.Set("X-Forwarded-For", "10.9.9.9")
	f.e.ServeHTTP(httptest.NewRecorder(), req)
	if line := lastLine(f.logs.String()); !strings.Contains(line, "ip=198.51.100.7") || strings.Contains(line, "10.9.9.9") {
		t.Fatalf("log line %q", line)
	}
	// With the server's policy (echo's IPExtractor), it is used.
	f.e.IPExtractor = echo.ExtractIPFromXFFHeader(echo.TrustIPRange(mustCIDR(t, "198.51.100.0/24")))
	f.e.ServeHTTP(httptest.NewRecorder(), req)
	if line := lastLine(f.logs.String()); !strings.Contains(line, "ip=10.9.9.9") {
		t.Fatalf("log line with a trusted proxy %q", line)
	}
}

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
