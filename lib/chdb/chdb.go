// Package chdb opens ClickHouse connections from an XPROMO_CLICKHOUSE_URL and
// knows which server features the connected version has.
package chdb

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DefaultURL is where `make services` runs ClickHouse.
const DefaultURL = "clickhouse://127.0.0.1:19000/xpromo"

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// ValidIdent reports whether s may be used as a database or cluster name.
// Identifiers cannot be bound as parameters, so they are checked instead.
func ValidIdent(s string) bool { return identRe.MatchString(s) }

// Options parses a clickhouse://[user[:password]@]host:port/database[?settings]
// URL into client options. Only the native protocol is accepted: the HTTP
// protocol of clickhouse-go is rejected by ClickHouse 18.16.
func Options(rawURL string) (*clickhouse.Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("clickhouse url: %w", err)
	}
	if u.Scheme != "clickhouse" && u.Scheme != "tcp" {
		return nil, fmt.Errorf("clickhouse url %q: scheme must be clickhouse:// (native protocol)", redact(u))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("clickhouse url %q: no host", redact(u))
	}
	u.Scheme = "clickhouse"
	opts, err := clickhouse.ParseDSN(u.String())
	if err != nil {
		return nil, fmt.Errorf("clickhouse url %q: %w", redact(u), err)
	}
	db := strings.Trim(u.Path, "/")
	if db == "" {
		db = "default"
	}
	if !ValidIdent(db) {
		return nil, fmt.Errorf("clickhouse url %q: database name %q is not a plain identifier", redact(u), db)
	}
	opts.Auth.Database = db
	if opts.DialTimeout == 0 || opts.DialTimeout == 30*time.Second {
		opts.DialTimeout = 5 * time.Second
	}
	opts.MaxOpenConns = 10
	opts.MaxIdleConns = 5
	return opts, nil
}

func redact(u *url.URL) string {
	if _, ok := u.User.Password(); ok {
		c := *u
		c.User = url.UserPassword(u.User.Username(), "xxx")
		return c.String()
	}
	return u.String()
}

// Open connects to the database named in rawURL, creating it when missing
// if create is true, and checks the connection with a ping.
func Open(ctx context.Context, rawURL string, create bool) (driver.Conn, error) {
	opts, err := Options(rawURL)
	if err != nil {
		return nil, err
	}
	if create && opts.Auth.Database != "default" {
		if err := CreateDatabase(ctx, opts); err != nil {
			return nil, err
		}
	}
	conn, err := Connect(rawURL)
	if err != nil {
		return nil, err
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse ping %s: %w", strings.Join(opts.Addr, ","), err)
	}
	return conn, nil
}

// CreateDatabase creates opts' database if it does not exist.
func CreateDatabase(ctx context.Context, opts *clickhouse.Options) error {
	return execOnDefault(ctx, opts, "create database", "CREATE DATABASE IF NOT EXISTS ", opts.Auth.Database)
}

// DropDatabase drops a database; tests use it to clean up.
func DropDatabase(ctx context.Context, opts *clickhouse.Options, name string) error {
	return execOnDefault(ctx, opts, "drop database", "DROP DATABASE IF EXISTS ", name)
}

// execOnDefault runs DDL naming a database through the default database.
// Identifiers cannot be bound, so name is checked instead.
func execOnDefault(ctx context.Context, opts *clickhouse.Options, op, ddl, name string) error {
	if !ValidIdent(name) {
		return fmt.Errorf("%s: bad name %q", op, name)
	}
	o := *opts
	o.Auth.Database = "default"
	conn, err := clickhouse.Open(&o)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, name, err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, ddl+name); err != nil {
		return fmt.Errorf("%s %s: %w", op, name, err)
	}
	return nil
}

// Version is a server version, compared by its first two numbers.
type Version struct{ Major, Minor, Patch uint64 }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v >= major.minor.
func (v Version) AtLeast(major, minor uint64) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// ServerVersion asks the connected server for its version.
func ServerVersion(conn driver.Conn) (Version, error) {
	sv, err := conn.ServerVersion()
	if err != nil {
		return Version{}, fmt.Errorf("clickhouse server version: %w", err)
	}
	return Version{sv.Version.Major, sv.Version.Minor, sv.Version.Patch}, nil
}

// Connect returns a connection pool without dialing: the tracker must start
// (and redirect) while ClickHouse is down; queries fail until it is back.
func Connect(rawURL string) (driver.Conn, error) {
	opts, err := Options(rawURL)
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse open: %w", err)
	}
	return conn, nil
}
