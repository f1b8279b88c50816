// Package pgdb opens PostgreSQL pools from an XPROMO_POSTGRES_URL and tells
// apart the errors the catalog answers differently: a constraint that
// refused a row, and a server that is not there.
package pgdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
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
// With create, a database that does not exist is created first (its owner
// is the URL's user, who must be allowed to).
func Open(ctx context.Context, rawURL string, create bool) (*pgxpool.Pool, error) {
	cfg, err := Config(rawURL)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", Redact(rawURL), err)
	}
	err = pool.Ping(ctx)
	var pe *pgconn.PgError
	if create && errors.As(err, &pe) && pe.Code == invalidCatalogName {
		pool.Close()
		if err := createDatabase(ctx, cfg); err != nil {
			return nil, fmt.Errorf("postgres %s: create database: %w", Redact(rawURL), err)
		}
		return Open(ctx, rawURL, false)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", Redact(rawURL), err)
	}
	return pool, nil
}

// invalidCatalogName is the SQLSTATE of a connection to a database that
// does not exist.
const invalidCatalogName = "3D000"

// createDatabase creates cfg's database, connected to the server's
// maintenance database "postgres".
func createDatabase(ctx context.Context, cfg *pgxpool.Config) error {
	cc := cfg.ConnConfig.Copy()
	name := cc.Database
	cc.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	// A name cannot be a bound parameter: it is quoted as an identifier.
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if _, dup := Violation(err, duplicateDatabase); dup {
		return nil // created meanwhile by another process
	}
	return err
}

// duplicateDatabase is the SQLSTATE of CREATE DATABASE on a taken name.
const duplicateDatabase = "42P04"

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

// Connect returns a pool on rawURL without a round trip: connections are
// made when first used, so a process that can work from a copy of what
// the database holds (a tracker's catalog snapshot) starts while
// PostgreSQL is down.
func Connect(rawURL string) (*pgxpool.Pool, error) {
	cfg, err := Config(rawURL)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", Redact(rawURL), err)
	}
	return pool, nil
}

// Unavailable reports whether err means PostgreSQL could not be reached
// or was lost: a connection refused, reset or closed under a pooled
// connection, or a server starting or stopping. The same request may be
// retried once it is back. A transaction cut this way committed nothing,
// unless the connection went while its COMMIT was under way: NotSent
// tells the errors that happened before anything reached the server.
func Unavailable(err error) bool {
	if NotSent(err) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01-03: shutting down, crash
		// shutdown, cannot connect now.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	// A pooled connection whose server went away fails its next use with
	// ErrConnClosed or a network error, not a ConnectError.
	var ne net.Error
	return errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &ne)
}

// NullTime is t for a nullable timestamptz column: NULL for the zero
// time (never, not revoked), else t in UTC.
func NullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// TimeOrZero is a scanned nullable timestamptz: the zero time for NULL,
// else the time in UTC.
func TimeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// NotSent reports whether err happened before the statement reached
// PostgreSQL (a failed connect, a connection refused by the pool): nothing
// was written.
func NotSent(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || pgconn.SafeToRetry(err)
}
