// Package testenv gives integration tests a fresh, migrated ClickHouse
// database and an isolated Redis key space on the real servers that
// `make services` starts. There is no skip: a test that needs a server and
// cannot reach it fails, saying how to start it.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/schema"
)

// DefaultRedisURL is where `make services` runs Redis.
const DefaultRedisURL = "redis://127.0.0.1:16379/0"

const hint = "start the servers with `make services` (or set XPROMO_REDIS_URL / XPROMO_CLICKHOUSE_URL)"

// RedisURL is the Redis the tests use.
func RedisURL() string {
	if u := os.Getenv("XPROMO_REDIS_URL"); u != "" {
		return u
	}
	return DefaultRedisURL
}

// ClickHouseURL is the ClickHouse server the tests use; its database part
// is replaced by a fresh database per test.
func ClickHouseURL() string {
	if u := os.Getenv("XPROMO_CLICKHOUSE_URL"); u != "" {
		return u
	}
	return chdb.DefaultURL
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// DB is a fresh migrated database.
type DB struct {
	Conn driver.Conn
	Name string
	URL  string // clickhouse:// URL naming this database
}

// ClickHouse creates a fresh database, applies every migration and drops
// the database when the test ends.
func ClickHouse(t testing.TB) *DB {
	t.Helper()
	db := EmptyClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := schema.Migrate(ctx, db.Conn, schema.Options{}); err != nil {
		t.Fatalf("testenv: migrate %s: %v", db.Name, err)
	}
	return db
}

// EmptyClickHouse creates a fresh database without any table (the
// migrations' own tests start there) and drops it when the test ends.
func EmptyClickHouse(t testing.TB) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	name := "xpt_" + randHex(6)
	u, err := url.Parse(ClickHouseURL())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	u.Path = "/" + name
	dbURL := u.String()
	conn, err := chdb.Open(ctx, dbURL, true)
	if err != nil {
		t.Fatalf("testenv: ClickHouse at %s: %v; %s", ClickHouseURL(), err, hint)
	}
	opts, _ := chdb.Options(dbURL)
	t.Cleanup(func() {
		conn.Close()
		if os.Getenv("XPROMO_TEST_KEEP_DB") != "" {
			t.Logf("kept database %s", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := chdb.DropDatabase(ctx, opts, name); err != nil {
			t.Logf("testenv: %v", err)
		}
	})
	return &DB{Conn: conn, Name: name, URL: dbURL}
}

// ClickHouseOptions returns client options for the server, default database.
func ClickHouseOptions(t testing.TB) *clickhouse.Options {
	t.Helper()
	o, err := chdb.Options(ClickHouseURL())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return o
}

// Redis is a client plus a key prefix no other test uses; the prefix's keys
// are deleted when the test ends.
type Redis struct {
	Client *redis.Client
	Prefix string
	URL    string
}

// NewRedis connects to the test Redis and reserves a key prefix.
func NewRedis(t testing.TB) *Redis {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("testenv: redis url: %v", err)
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Fatalf("testenv: Redis at %s: %v; %s", RedisURL(), err, hint)
	}
	prefix := "xpt:" + randHex(6) + ":"
	t.Cleanup(func() {
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := DeletePrefix(ctx, c, prefix); err != nil {
			t.Logf("testenv: cleaning %s*: %v", prefix, err)
		}
	})
	return &Redis{Client: c, Prefix: prefix, URL: RedisURL()}
}

// DeletePrefix deletes every key that starts with prefix.
func DeletePrefix(ctx context.Context, c *redis.Client, prefix string) error {
	if !strings.HasSuffix(prefix, ":") || len(prefix) < 4 {
		return fmt.Errorf("refusing to delete keys with prefix %q", prefix)
	}
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		if err := c.Del(ctx, iter.Val()).Err(); err != nil {
			return err
		}
	}
	return iter.Err()
}

// Logger writes through t.Log, so logs show up with the test that made them.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// WaitFor polls cond until it holds, failing the test after d.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// ReadCSV reads the CSV file at path whole: the fixtures of the tests.
func ReadCSV(t testing.TB, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

// Insert writes rows in one batch of query (an INSERT), failing the test
// on an error.
func Insert(t testing.TB, ctx context.Context, conn driver.Conn, query string, rows ...[]any) {
	t.Helper()
	b, err := conn.PrepareBatch(ctx, query)
	if err != nil {
		t.Fatalf("testenv: prepare %s: %v", query, err)
	}
	defer b.Close()
	for _, r := range rows {
		if err := b.Append(r...); err != nil {
			t.Fatalf("testenv: append to %s: %v", query, err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatalf("testenv: send %s: %v", query, err)
	}
}
