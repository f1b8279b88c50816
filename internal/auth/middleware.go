package auth

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"
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
// TOKEN` and stores the Principal for FromContext; anything else is
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
			p, err := v.Verify(strings.TrimSpace(tok), time.Now())
			if err != nil {
				return refuse(reason(err), "invalid_token", err)
			}
			c.Set(principalKey, p)
			return next(c)
		}
	}
}

// FromContext returns the Principal that Middleware stored.
func FromContext(c echo.Context) (Principal, bool) {
	p, ok := c.Get(principalKey).(Principal)
	return p, ok
}

// Require answers 403 unless the caller has one of roles; admin always
// passes. Without Middleware before it, every request gets 401.
func Require(roles ...Role) echo.MiddlewareFunc {
	needs := []string{string(RoleAdmin)}
	for _, r := range roles {
		if r != RoleAdmin {
			needs = append(needs, string(r))
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, ok := FromContext(c)
			if !ok {
				return unauthorized(c, "missing bearer token", "")
			}
			if p.Role != RoleAdmin && !slices.Contains(roles, p.Role) {
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
}

// RateLimit limits requests per token when Middleware ran before it, else
// per client IP (cfg.ClientIP, or c.RealIP). Placed before Middleware it also limits token guessing; placed
// after, each token gets its own budget. Refusals are 429 JSON with
// Retry-After.
func RateLimit(cfg RateLimitConfig) echo.MiddlewareFunc {
	if cfg.Rate <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	store := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Limit(cfg.Rate), Burst: cfg.Burst, ExpiresIn: cfg.ExpiresIn,
	})
	// One request's worth of budget comes back after 1/Rate seconds.
	retry := strconv.Itoa(int(math.Max(1, math.Ceil(1/cfg.Rate))))
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Skipper: cfg.Skipper,
		Store:   store,
		IdentifierExtractor: func(c echo.Context) (string, error) {
			if p, ok := FromContext(c); ok && p.TokenID != "" {
				return "token:" + p.TokenID, nil
			}
			if cfg.ClientIP != nil {
				return "ip:" + cfg.ClientIP(c.Request()), nil
			}
			return "ip:" + c.RealIP(), nil
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			c.Response().Header().Set(echo.HeaderRetryAfter, retry)
			// Written here and nil returned: the error handler skips a
			// committed response.
			_ = c.JSON(http.StatusTooManyRequests, ErrorBody{Error: "too_many_requests", Reason: "rate limit exceeded, retry later"})
			return nil
		},
	})
}
