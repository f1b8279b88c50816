// Command xpromo-bare is the baseline of `make bench`: the same HTTP stack
// as `xpromo serve` (net/http server with the same timeouts, echo router with
// the recover middleware) answering the same responses, with none of the
// work: no catalog lookup, no geo or User-Agent classification, no hit, no
// Redis. The ratio serve/bare is the cost of the capture pipeline.
//
//	GET /r/{code}  302 to a fixed URL with xp_click=<26-char id>, Set-Cookie xp_vid
//	GET /p.gif     the 43-byte GIF, Set-Cookie xp_vid
//	GET /healthz   ok
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/xpromo/xpromo/lib/ids"
)

// dest is where the demo link "demo" of `xpromo demo` leads; the tracker
// adds xp_click to its query and keeps the fragment. The constants are
// copies (checked by the test) so that this binary does not link the
// capture package and its tables.
const (
	destPrefix    = "https://www.example.com/welcome?utm_source=acme&" + clickParam + "="
	destSuffix    = "#start"
	clickParam    = "xp_click"
	visitorCookie = "xp_vid"
)

// gif is the tracker's 43-byte transparent 1x1 GIF.
var gif = []byte{
	0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18091", "listen address")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *addr, log, nil); err != nil {
		fmt.Fprintln(os.Stderr, "xpromo-bare:", err)
		os.Exit(1)
	}
}

func newEcho(log *slog.Logger) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			log.Error("panic in handler", "err", err, "path", c.Path(), "stack", string(stack))
			return err
		},
	}))
	e.GET("/r/:code", func(c echo.Context) error {
		now := time.Now().UTC()
		noStore(c)
		setVisitor(c)
		return c.Redirect(http.StatusFound, destPrefix+ids.New(now)+destSuffix)
	})
	e.GET("/p.gif", func(c echo.Context) error {
		noStore(c)
		setVisitor(c)
		return c.Blob(http.StatusOK, "image/gif", gif)
	})
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	return e
}

func noStore(c echo.Context) {
	c.Response().Header().Set("Cache-Control", "no-store, max-age=0")
}

// setVisitor sets a new visitor cookie as the tracker does for a first visit.
func setVisitor(c echo.Context) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	c.SetCookie(&http.Cookie{
		Name:     visitorCookie,
		Value:    base64.RawURLEncoding.EncodeToString(b),
		Path:     "/",
		MaxAge:   365 * 24 * 3600,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

// serve runs until ctx ends; ready, if not nil, receives the bound address.
func serve(ctx context.Context, addr string, log *slog.Logger, ready chan<- string) error {
	srv := &http.Server{
		Handler:           newEcho(log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	log.Info("xpromo-bare serving", "addr", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
