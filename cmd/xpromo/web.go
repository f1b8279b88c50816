package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/http/web"
	"github.com/xpromo/xpromo/tracker/capture"
)

// registerWeb mounts the dashboard (/app) on e with what serve already
// has: the API's catalog store (its writes announce changes), the
// tracker's catalog cache for reports, the tokens and their verifier,
// Redis for sessions, and the trusted-proxy logic for the sign-in limit.
func registerWeb(e *echo.Echo, c *serveConfig, store *catalog.Store, cache *catalog.Cache, tokens *auth.Store,
	v *auth.Verifier, rdb *redis.Client, clientIP *capture.ClientIP, tokensChanged func(context.Context), log *slog.Logger) error {
	srv, err := web.New(web.Config{
		Catalog: store, Snapshot: cache.Get, Tokens: tokens, Verifier: v, TokensChanged: tokensChanged,
		Redis: rdb, KeyPrefix: c.KeyPrefix, PublicURL: c.PublicURL, ReportingCurrency: c.ReportingCur,
		ClientIP: func(r *http.Request) string { return clientIP.Addr(r).String() },
		Log:      log,
		Now:      clock,
	})
	if err != nil {
		return err
	}
	srv.Register(e)
	return nil
}
