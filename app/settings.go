package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/lib/notify"
)

// Settings are the connection and logging settings most commands share.
type Settings struct {
	RedisURL      string // empty: changes are not announced
	ClickHouseURL string
	PostgresURL   string
	KeyPrefix     string // of every Redis key
	LogLevel      string // debug, info, warn or error
	LogFormat     string // text or json
}

// Logger is the logger writing to w at the level and in the format set.
func (s *Settings) Logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(s.LogLevel)); err != nil {
		return nil, fmt.Errorf("log-level %q: want debug, info, warn or error", s.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch s.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log-format %q: want text or json", s.LogFormat)
}

// CatalogChanged tells running trackers (same Redis and key prefix) to
// reload the catalog now; without it they still reload within
// --catalog-refresh.
func (s *Settings) CatalogChanged(ctx context.Context) { s.announce(ctx, catalogNotifier) }

// TokensChanged tells running trackers to reload the API tokens now.
func (s *Settings) TokensChanged(ctx context.Context) { s.announce(ctx, tokensNotifier) }

// announce publishes on notifier's channel. A failure is a warning: the
// change itself is stored.
func (s *Settings) announce(ctx context.Context, notifier func(*redis.Client, string, *slog.Logger) *notify.Notifier) {
	if s.RedisURL == "" {
		return
	}
	opts, err := redis.ParseURL(s.RedisURL)
	if err != nil {
		return
	}
	opts.MaxRetries, opts.DialTimeout = -1, time.Second
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	publish(ctx, notifier(rdb, s.KeyPrefix, log), log)
}
