package auth

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/xpromo/xpromo/domain/access"
)

const principalKey = "xpromo.auth.principal"

// ErrorBody is the JSON body of 401, 403 and 429 answers.
type ErrorBody struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// reason is what a client is told; it never repeats the token.
func reason(err error) string {
	switch {
	case errors.Is(err, ErrMalformed):
		return "malformed token"
	case errors.Is(err, ErrExpired):
		return "token expired"
	case errors.Is(err, ErrRevoked):
		return "token revoked"
	}
	return "invalid token" // unknown id or wrong secret: not told apart
}

func unauthorized(c echo.Context, why, wwwError string) error {
	h := `Bearer realm="xpromo"`
	if wwwError != "" {
		h += `, error="` + wwwError + `"`
	}
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, h)
	return c.JSON(http.StatusUnauthorized, ErrorBody{Error: "unauthorized", Reason: why})
}

// Middleware authenticates every request with `Authorization: Bearer
// TOKEN` and stores the access.Principal for FromContext; anything else is
// answered 401. Refusals are logged with the token id at most.
func Middleware(v *Verifier) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			refuse := func(why, wwwError string, err error) error {
				attrs := []any{"reason", why, "ip", c.RealIP(), "method", r.Method, "path", r.URL.Path}
				if err != nil {
					attrs = append(attrs, "err", err) // names the token id at most
				}
				v.log.Info("auth: request refused", attrs...)
				return unauthorized(c, why, wwwError)
			}
			hdr := r.Header.Get(echo.HeaderAuthorization)
			if hdr == "" {
				return refuse("missing bearer token", "", nil)
			}
			scheme, tok, ok := strings.Cut(hdr, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") {
				return refuse("authorization is not a bearer token", "invalid_request", nil)
			}
			p, err := v.Verify(strings.TrimSpace(tok), v.now())
			if err != nil {
				return refuse(reason(err), "invalid_token", err)
			}
			c.Set(principalKey, p)
			return next(c)
		}
	}
}

// FromContext returns the access.Principal that Middleware stored.
func FromContext(c echo.Context) (access.Principal, bool) {
	p, ok := c.Get(principalKey).(access.Principal)
	return p, ok
}

// Require answers 403 unless the caller has one of roles; admin always
// passes. Without Middleware before it, every request gets 401.
func Require(roles ...access.Role) echo.MiddlewareFunc {
	needs := []string{string(access.RoleAdmin)}
	for _, r := range roles {
		if r != access.RoleAdmin {
			needs = append(needs, string(r))
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, ok := FromContext(c)
			if !ok {
				return unauthorized(c, "missing bearer token", "")
			}
			if p.Role != access.RoleAdmin && !slices.Contains(roles, p.Role) {
				return c.JSON(http.StatusForbidden, ErrorBody{Error: "forbidden",
					Reason: fmt.Sprintf("role %s may not do this (needs %s)", p.Role, strings.Join(needs, " or "))})
			}
			return next(c)
		}
	}
}

// RateLimitConfig configures RateLimit.
type RateLimitConfig struct {
	Rate      float64       // requests per second per key; <= 0 turns the limit off
	Burst     int           // requests allowed at once; 0 means max(1, ceil(Rate))
	ExpiresIn time.Duration // forget a key idle this long; 0 means 3 minutes
	Skipper   middleware.Skipper
	// ClientIP keys unauthenticated requests; nil means c.RealIP(), which
	// believes X-Forwarded-For from any peer unless the server sets
	// echo's IPExtractor. Pass the server's trusted-proxy logic here.
	ClientIP func(*http.Request) string
	// Now is the limiter's clock; nil means time.Now (tests step it).
	Now func() time.Time
}

// The rate-limit headers of the IETF httpapi draft
// (draft-ietf-httpapi-ratelimit-headers), sent on every limited answer.
const (
	HeaderRateLimitLimit     = "RateLimit-Limit"     // the burst: requests allowed at once
	HeaderRateLimitRemaining = "RateLimit-Remaining" // requests left now, this one counted
	HeaderRateLimitReset     = "RateLimit-Reset"     // seconds until the whole burst is back
)

// RateLimit limits requests per token when Middleware ran before it, else
// per client IP (cfg.ClientIP, or c.RealIP): a token bucket per key that
// refills at Rate and holds Burst. Placed before Middleware it also limits
// token guessing; placed after, each token gets its own budget. Every
// answer carries RateLimit-Limit, -Remaining and -Reset; where two
// limiters run, the headers are those of the one with fewer requests
// left. Refusals are 429 JSON with Retry-After (seconds until one request
// is allowed again, at least 1).
func RateLimit(cfg RateLimitConfig) echo.MiddlewareFunc {
	if cfg.Rate <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	b := &buckets{rate: cfg.Rate, burst: cfg.Burst, expires: cfg.ExpiresIn, m: map[string]*bucket{}}
	if b.burst <= 0 {
		b.burst = max(1, int(math.Ceil(cfg.Rate)))
	}
	if b.expires <= 0 {
		b.expires = 3 * time.Minute
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	limit := strconv.Itoa(b.burst)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if cfg.Skipper != nil && cfg.Skipper(c) {
				return next(c)
			}
			key := ""
			switch p, ok := FromContext(c); {
			case ok && p.TokenID != "":
				key = "token:" + p.TokenID
			case cfg.ClientIP != nil:
				key = "ip:" + cfg.ClientIP(c.Request())
			default:
				key = "ip:" + c.RealIP()
			}
			q := b.take(key, now())
			h := c.Response().Header()
			if prev, err := strconv.Atoi(h.Get(HeaderRateLimitRemaining)); err != nil || q.remaining <= prev {
				h.Set(HeaderRateLimitLimit, limit)
				h.Set(HeaderRateLimitRemaining, strconv.Itoa(q.remaining))
				h.Set(HeaderRateLimitReset, strconv.Itoa(q.reset))
			}
			if !q.allowed {
				h.Set(echo.HeaderRetryAfter, strconv.Itoa(q.retry))
				return c.JSON(http.StatusTooManyRequests, ErrorBody{Error: "too_many_requests", Reason: "rate limit exceeded, retry later"})
			}
			return next(c)
		}
	}
}

// buckets holds a token bucket (golang.org/x/time/rate) per key,
// forgetting keys idle for expires. Not echo's RateLimiterMemoryStore: it
// answers allow or deny only, and the RateLimit-* headers need the tokens
// left and the time to refill, which rate.Limiter gives.
type buckets struct {
	rate    float64
	burst   int
	expires time.Duration

	mu    sync.Mutex
	m     map[string]*bucket
	swept time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// quota is one request's outcome: whether it may pass, the requests left,
// the seconds until the bucket is full, and (refused) until one is allowed.
type quota struct {
	allowed                 bool
	remaining, reset, retry int
}

func (b *buckets) take(key string, now time.Time) quota {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.swept) > b.expires {
		for k, x := range b.m {
			if now.Sub(x.seen) > b.expires {
				delete(b.m, k)
			}
		}
		b.swept = now
	}
	x, ok := b.m[key]
	if !ok {
		x = &bucket{lim: rate.NewLimiter(rate.Limit(b.rate), b.burst)}
		b.m[key] = x
	}
	x.seen = now
	q := quota{allowed: x.lim.AllowN(now, 1)}
	tokens := max(0, x.lim.TokensAt(now))
	q.remaining = int(math.Floor(tokens))
	q.reset = int(math.Ceil((float64(b.burst) - tokens) / b.rate))
	if !q.allowed {
		q.retry = max(1, int(math.Ceil((1-tokens)/b.rate)))
	}
	return q
}
