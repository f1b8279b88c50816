package auth

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// memToken makes a token without a database.
func memToken(t *testing.T, tok Token) (string, Token) {
	t.Helper()
	s, id, hash, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	tok.ID, tok.hash = id, hash
	return s, tok
}

// memVerifier is a Verifier over a fixed set of tokens.
func memVerifier(log *slog.Logger, tokens ...Token) *Verifier {
	v := NewVerifier(nil, 0, log)
	m := map[string]Token{}
	for _, t := range tokens {
		m[t.ID] = t
	}
	v.tokens.Store(&m)
	return v
}

func secretOf(tok string) string { return tok[len(Prefix)+IDLen+1:] }

func TestVerify(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	good, gt := memToken(t, Token{Role: access.RoleCountryManager, Countries: []string{"DE"}, Name: "de team"})
	exp, et := memToken(t, Token{Role: access.RoleFinance, ExpiresAt: now.Add(time.Minute)})
	rev, rt := memToken(t, Token{Role: access.RoleAdmin, RevokedAt: now.Add(-time.Hour)})
	odd, ot := memToken(t, Token{Role: "root"})
	unknown, _ := memToken(t, Token{})
	wrong := good[:len(Prefix)+IDLen+1] + secretOf(unknown)
	v := memVerifier(nil, gt, et, rt, ot)

	p, err := v.Verify(good, now)
	if err != nil {
		t.Fatalf("Verify(good): %v", err)
	}
	if p.TokenID != gt.ID || p.Role != access.RoleCountryManager || p.Name != "de team" || len(p.Countries) != 1 || p.Countries[0] != "DE" {
		t.Fatalf("principal = %+v", p)
	}
	if _, err := v.Verify(exp, now); err != nil {
		t.Fatalf("Verify(expiring, before expiry): %v", err)
	}
	cases := []struct {
		name, tok string
		at        time.Time
		want      error
	}{
		{"malformed", "xpt_nope", now, ErrMalformed},
		{"unknown", unknown, now, ErrUnknown},
		{"wrong secret", wrong, now, ErrBadSecret},
		{"expired", exp, now.Add(time.Minute), ErrExpired},
		{"revoked", rev, now, ErrRevoked},
		{"unknown role", odd, now, ErrUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := v.Verify(c.tok, c.at)
			if err == nil || !errors.Is(err, c.want) {
				t.Fatalf("Verify = %+v, %v; want %v", p, err, c.want)
			}
			if p.Role != "" || p.TokenID != "" {
				t.Fatalf("principal %+v returned with an error", p)
			}
			if len(c.tok) >= TokenLen && strings.Contains(err.Error(), secretOf(c.tok)) {
				t.Fatalf("error %q contains the secret", err)
			}
		})
	}
	// Before any load, nothing verifies.
	if _, err := NewVerifier(nil, 0, nil).Verify(good, now); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Verify without a snapshot: %v", err)
	}
}

func serve(e *echo.Echo, method, path, authz, ip string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if xff := req.URL.Query().Get("xff"); xff != "" {
		req.Header.Set(echo.HeaderXForwardedFor, xff)
	}
	if authz != "" {
		req.Header.Set(echo.HeaderAuthorization, authz)
	}
	if ip != "" {
		req.RemoteAddr = ip + ":1234"
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func decodeBody(t *testing.T, rec *httptest.ResponseRecorder) ErrorBody {
	t.Helper()
	var b ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
	}
	return b
}

func TestMiddleware(t *testing.T) {
	var logs testenv.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	good, gt := memToken(t, Token{Role: access.RolePartner, Partner: "a", Name: "partner a"})
	exp, et := memToken(t, Token{Role: access.RoleFinance, ExpiresAt: time.Now().Add(-time.Second)})
	rev, rt := memToken(t, Token{Role: access.RoleAdmin, RevokedAt: time.Now().Add(-time.Hour)})
	unknown, _ := memToken(t, Token{})
	wrong := good[:len(Prefix)+IDLen+1] + secretOf(unknown)
	v := memVerifier(log, gt, et, rt)

	e := echo.New()
	e.Use(Middleware(v))
	e.GET("/me", func(c echo.Context) error {
		p, ok := FromContext(c)
		if !ok {
			return c.String(http.StatusInternalServerError, "no principal")
		}
		return c.JSON(http.StatusOK, p)
	})

	for _, authz := range []string{"Bearer " + good, "bearer " + good, "BEARER  " + good} {
		rec := serve(e, http.MethodGet, "/me", authz, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("%q: status %d %s", authz, rec.Code, rec.Body)
		}
		var p access.Principal
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if p.TokenID != gt.ID || p.Role != access.RolePartner || p.Partner != "a" {
			t.Fatalf("principal = %+v", p)
		}
	}

	refused := []struct {
		name, authz, reason string
	}{
		{"missing", "", "missing bearer token"},
		{"basic", "Basic " + good, "authorization is not a bearer token"},
		{"no scheme", good, "authorization is not a bearer token"},
		{"empty bearer", "Bearer ", "malformed token"},
		{"malformed", "Bearer xpt_short", "malformed token"},
		{"token with junk", "Bearer " + good + "x", "malformed token"},
		{"unknown", "Bearer " + unknown, "invalid token"},
		{"wrong secret", "Bearer " + wrong, "invalid token"},
		{"expired", "Bearer " + exp, "token expired"},
		{"revoked", "Bearer " + rev, "token revoked"},
	}
	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			rec := serve(e, http.MethodGet, "/me", r.authz, "")
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", rec.Code)
			}
			if h := rec.Header().Get(echo.HeaderWWWAuthenticate); !strings.HasPrefix(h, "Bearer") {
				t.Fatalf("WWW-Authenticate = %q", h)
			}
			if ct := rec.Header().Get(echo.HeaderContentType); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("Content-Type = %q", ct)
			}
			if b := decodeBody(t, rec); b.Error != "unauthorized" || b.Reason != r.reason {
				t.Fatalf("body = %+v, want reason %q", b, r.reason)
			}
		})
	}
	// No secret in any answer or log line; the ids are there to trace.
	out := logs.String()
	for _, tok := range []string{good, exp, rev, unknown} {
		if strings.Contains(out, secretOf(tok)) {
			t.Fatalf("log contains a secret:\n%s", out)
		}
	}
	if !strings.Contains(out, rt.ID) || !strings.Contains(out, "token revoked") {
		t.Fatalf("log does not name the revoked token's id:\n%s", out)
	}
}

func TestRequire(t *testing.T) {
	admin, at := memToken(t, Token{Role: access.RoleAdmin})
	fin, ft := memToken(t, Token{Role: access.RoleFinance})
	cm, ct := memToken(t, Token{Role: access.RoleCountryManager, Countries: []string{"DE"}})
	svc, st := memToken(t, Token{Role: access.RoleService})
	v := memVerifier(nil, at, ft, ct, st)

	e := echo.New()
	ok := func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }
	api := e.Group("", Middleware(v))
	api.GET("/statements", ok, Require(access.RoleFinance, access.RoleCountryManager))
	api.POST("/conversions", ok, Require(access.RoleService))
	api.GET("/tokens", ok, Require(access.RoleAdmin))
	e.GET("/unguarded", ok, Require(access.RoleFinance)) // no Middleware: fails closed

	tests := []struct {
		method, path, tok string
		want              int
	}{
		{http.MethodGet, "/statements", admin, 204},
		{http.MethodGet, "/statements", fin, 204},
		{http.MethodGet, "/statements", cm, 204},
		{http.MethodGet, "/statements", svc, 403},
		{http.MethodPost, "/conversions", svc, 204},
		{http.MethodPost, "/conversions", admin, 204},
		{http.MethodPost, "/conversions", fin, 403},
		{http.MethodPost, "/conversions", cm, 403},
		{http.MethodGet, "/tokens", admin, 204},
		{http.MethodGet, "/tokens", fin, 403},
		{http.MethodGet, "/unguarded", fin, 401},
	}
	for _, tt := range tests {
		rec := serve(e, tt.method, tt.path, "Bearer "+tt.tok, "")
		if rec.Code != tt.want {
			t.Errorf("%s %s as %s: %d, want %d", tt.method, tt.path, v.mustVerify(t, tt.tok).Role, rec.Code, tt.want)
			continue
		}
		if tt.want == 403 {
			if b := decodeBody(t, rec); b.Error != "forbidden" || !strings.Contains(b.Reason, "role ") {
				t.Errorf("403 body = %+v", b)
			}
		}
	}
}

func (v *Verifier) mustVerify(t *testing.T, tok string) access.Principal {
	t.Helper()
	p, err := v.Verify(tok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRateLimit(t *testing.T) {
	t1, tt1 := memToken(t, Token{Role: access.RoleFinance})
	t2, tt2 := memToken(t, Token{Role: access.RoleFinance})
	v := memVerifier(nil, tt1, tt2)
	ok := func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }

	type req struct {
		path, tok, ip string
		want          int
	}
	tests := []struct {
		name  string
		setup func(e *echo.Echo)
		reqs  []req
	}{
		{
			name: "per IP, before auth",
			setup: func(e *echo.Echo) {
				e.Use(RateLimit(RateLimitConfig{Rate: 0.001, Burst: 2}))
				e.Use(Middleware(v))
				e.GET("/x", ok)
			},
			reqs: []req{
				{"/x", t1, "10.0.0.1", 204},
				{"/x", "", "10.0.0.1", 401}, // failed attempts count too
				{"/x", t2, "10.0.0.1", 429},
				{"/x", "", "10.0.0.1", 429},
				{"/x", t1, "10.0.0.2", 204}, // another IP has its own budget
			},
		},
		{
			name: "per token, after auth",
			setup: func(e *echo.Echo) {
				e.Use(Middleware(v))
				e.Use(RateLimit(RateLimitConfig{Rate: 0.001, Burst: 1}))
				e.GET("/x", ok)
			},
			reqs: []req{
				{"/x", t1, "10.0.0.1", 204},
				{"/x", t1, "10.0.0.2", 429}, // same token, other IP
				{"/x", t2, "10.0.0.1", 204}, // other token, same IP
				{"/x", t2, "10.0.0.1", 429},
			},
		},
		{
			name: "ClientIP decides, not X-Forwarded-For",
			setup: func(e *echo.Echo) {
				e.IPExtractor = nil // c.RealIP would believe the header
				e.Use(RateLimit(RateLimitConfig{Rate: 0.001, Burst: 1, ClientIP: func(r *http.Request) string {
					return r.RemoteAddr
				}}))
				e.GET("/x", ok)
			},
			reqs: []req{
				{"/x", "", "10.0.0.1", 204},
				{"/x?xff=1.1.1.1", "", "10.0.0.1", 429},
				{"/x?xff=2.2.2.2", "", "10.0.0.1", 429},
			},
		},
		{
			name: "off",
			setup: func(e *echo.Echo) {
				e.Use(RateLimit(RateLimitConfig{}))
				e.GET("/x", ok)
			},
			reqs: []req{{"/x", "", "10.0.0.1", 204}, {"/x", "", "10.0.0.1", 204}, {"/x", "", "10.0.0.1", 204}},
		},
		{
			name: "skipped paths stay unlimited",
			setup: func(e *echo.Echo) {
				e.Use(RateLimit(RateLimitConfig{Rate: 0.001, Burst: 1, Skipper: func(c echo.Context) bool {
					return strings.HasPrefix(c.Path(), "/r/")
				}}))
				e.GET("/r/:code", ok)
				e.GET("/api", ok)
			},
			reqs: []req{
				{"/r/a", "", "10.0.0.1", 204}, {"/r/a", "", "10.0.0.1", 204}, {"/r/b", "", "10.0.0.1", 204},
				{"/api", "", "10.0.0.1", 204}, {"/api", "", "10.0.0.1", 429},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := echo.New()
			e.IPExtractor = echo.ExtractIPDirect()
			tt.setup(e)
			for i, r := range tt.reqs {
				authz := ""
				if r.tok != "" {
					authz = "Bearer " + r.tok
				}
				rec := serve(e, http.MethodGet, r.path, authz, r.ip)
				if rec.Code != r.want {
					t.Fatalf("request %d (%s from %s): %d %s, want %d", i, r.path, r.ip, rec.Code, rec.Body, r.want)
				}
				if rec.Code == http.StatusTooManyRequests {
					if ra := rec.Header().Get(echo.HeaderRetryAfter); ra != "1000" {
						t.Fatalf("Retry-After = %q, want 1000 (1/rate seconds)", ra)
					}
					if b := decodeBody(t, rec); b.Error != "too_many_requests" {
						t.Fatalf("429 body = %+v", b)
					}
				}
			}
		})
	}

	// A real clock: at 20/s with a burst of 1, a second request at once is
	// refused and one after 60 ms passes; Retry-After is at least 1 second.
	e := echo.New()
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(RateLimit(RateLimitConfig{Rate: 20, Burst: 1}))
	e.GET("/x", ok)
	if rec := serve(e, http.MethodGet, "/x", "", "10.1.1.1"); rec.Code != 204 {
		t.Fatalf("first: %d", rec.Code)
	}
	rec := serve(e, http.MethodGet, "/x", "", "10.1.1.1")
	if rec.Code != 429 || rec.Header().Get(echo.HeaderRetryAfter) != "1" {
		t.Fatalf("second: %d, Retry-After %q", rec.Code, rec.Header().Get(echo.HeaderRetryAfter))
	}
	time.Sleep(60 * time.Millisecond)
	if rec := serve(e, http.MethodGet, "/x", "", "10.1.1.1"); rec.Code != 204 {
		t.Fatalf("after waiting: %d", rec.Code)
	}
}

// TestRateLimitHeaders steps the limiter's clock: every answer, refused
// or not, carries RateLimit-Limit (the burst), RateLimit-Remaining and
// RateLimit-Reset (seconds until the burst is whole again); Retry-After
// is the wait for one request; with two limiters the headers are those
// of the one with fewer requests left.
func TestRateLimitHeaders(t *testing.T) {
	tok, tt := memToken(t, Token{Role: access.RoleFinance})
	v := memVerifier(nil, tt)
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	e := echo.New()
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(RateLimit(RateLimitConfig{Rate: 100, Burst: 1000, Now: clock})) // per address: plenty left
	e.Use(Middleware(v))
	e.Use(RateLimit(RateLimitConfig{Rate: 2, Burst: 3, Now: clock})) // per token: the nearer limit
	e.GET("/x", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	steps := []struct {
		after                          time.Duration // clock step before the request
		authz                          string
		code                           int
		limit, remaining, reset, retry string
	}{
		{0, "Bearer " + tok, 204, "3", "2", "1", ""},
		{0, "Bearer " + tok, 204, "3", "1", "1", ""},
		{0, "Bearer " + tok, 204, "3", "0", "2", ""},
		{0, "Bearer " + tok, 429, "3", "0", "2", "1"},
		{250 * time.Millisecond, "Bearer " + tok, 429, "3", "0", "2", "1"}, // half a request back
		{250 * time.Millisecond, "Bearer " + tok, 204, "3", "0", "2", ""},  // one back, spent
		{2 * time.Second, "Bearer " + tok, 204, "3", "2", "1", ""},         // full again, one spent
		{0, "", 401, "1000", "998", "1", ""},                               // no token: the address limit's headers
	}
	for i, s := range steps {
		at = at.Add(s.after)
		rec := serve(e, http.MethodGet, "/x", s.authz, "10.0.0.9")
		h := rec.Header()
		got := []string{h.Get(HeaderRateLimitLimit), h.Get(HeaderRateLimitRemaining), h.Get(HeaderRateLimitReset), h.Get(echo.HeaderRetryAfter)}
		want := []string{s.limit, s.remaining, s.reset, s.retry}
		if rec.Code != s.code || !slices.Equal(got, want) {
			t.Errorf("step %d: %d limit/remaining/reset/retry-after %q, want %d %q", i, rec.Code, got, s.code, want)
		}
	}
}
