package testenv

import (
	"context"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xpromo/xpromo/lib/pgdb"
	"github.com/xpromo/xpromo/schema/pg"
)

const pgHint = "start the servers with `make services` (or set XPROMO_POSTGRES_URL)"

// PostgresURL is the PostgreSQL server the tests use; its database part is
// replaced by a fresh database per test.
func PostgresURL() string {
	if u := os.Getenv("XPROMO_POSTGRES_URL"); u != "" {
		return u
	}
	return pgdb.DefaultURL
}

// PG is a fresh PostgreSQL database.
type PG struct {
	Pool *pgxpool.Pool
	Name string
	URL  string // postgres:// URL naming this database
}

// Postgres creates a fresh database, applies every PostgreSQL migration
// and drops the database when the test ends.
func Postgres(t testing.TB) *PG {
	t.Helper()
	db := EmptyPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := pg.Migrate(ctx, db.Pool); err != nil {
		t.Fatalf("testenv: migrate %s: %v", db.Name, err)
	}
	return db
}

// EmptyPostgres creates a fresh database without any table and drops it
// when the test ends.
func EmptyPostgres(t testing.TB) *PG {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	name := "xpt_" + randHex(6)
	admin, err := pgx.Connect(ctx, PostgresURL())
	if err != nil {
		t.Fatalf("testenv: PostgreSQL at %s: %v; %s", pgdb.Redact(PostgresURL()), err, pgHint)
	}
	defer admin.Close(context.Background())
	// The name is ours (xpt_ and hex): safe to write into the statement,
	// which cannot take it as a parameter.
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	u.Path = "/" + name
	dbURL := u.String()
	pool, err := pgdb.Open(ctx, dbURL, false)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		if os.Getenv("XPROMO_TEST_KEEP_DB") != "" {
			t.Logf("kept database %s", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, PostgresURL())
		if err != nil {
			t.Logf("testenv: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		// FORCE: a process a test started may still hold a connection.
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop %s: %v", name, err)
		}
	})
	return &PG{Pool: pool, Name: name, URL: dbURL}
}
