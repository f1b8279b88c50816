// Package pgdb opens PostgreSQL pools from an XPROMO_POSTGRES_URL and tells
// apart the errors the catalog answers differently: a constraint that
// refused a row, and a server that is not there.
package pgdb

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultURL is where `make services` runs PostgreSQL.
const DefaultURL = "postgres://xpromo:xpromo@127.0.0.1:15432/xpromo?sslmode=disable"

// Config parses a postgres://user:password@host:port/database[?params]
// URL into pool settings. A short connect timeout keeps a command or a
// request from hanging on a server that is down; the pool is small because
// the catalog's writes are few and short.
func Config(rawURL string) (*pgxpool.Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("postgres url: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("postgres url %q: scheme must be postgres://", Redact(rawURL))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("postgres url %q: no host", Redact(rawURL))
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("postgres url %q: %w", Redact(rawURL), err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if u.Query().Get("pool_max_conns") == "" {
		cfg.MaxConns = 10
	}
	return cfg, nil
}

// Open returns a pool on rawURL after one round trip to the server, so a
// wrong address or password is told at start-up, not at the first write.
func Open(ctx context.Context, rawURL string) (*pgxpool.Pool, error) {
	cfg, err := Config(rawURL)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", Redact(rawURL), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", Redact(rawURL), err)
	}
	return pool, nil
}

// Redact is rawURL with its password replaced, for messages and logs.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable url)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxx")
	}
	return u.String()
}

// SQLSTATE codes the catalog maps to its own errors.
const (
	UniqueViolation     = "23505"
	ForeignKeyViolation = "23503"
	CheckViolation      = "23514"
)

// Violation returns the constraint err broke when it is a PostgreSQL error
// with the given SQLSTATE code, and "" otherwise.
func Violation(err error, code string) (constraint string, ok bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == code {
		return pe.ConstraintName, true
	}
	return "", false
}
