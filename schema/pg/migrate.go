// Package pg holds the PostgreSQL migrations of the catalog of record,
// embedded in the binary, and the runner `xpromo migrate` applies them
// with (beside the ClickHouse ones in package schema).
//
// Each NNNN_name.sql file runs in one transaction together with its row in
// xpromo_migrations, so a migration is applied whole or not at all, and an
// advisory lock lets two `xpromo migrate` run at once: the second waits,
// then finds nothing left to do.
package pg

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed *.sql
var files embed.FS

// VersionTable records applied migrations.
const VersionTable = "xpromo_migrations"

// lockKey is the advisory lock migrations hold: any constant of our own
// ("xpromo" in ASCII).
const lockKey = 0x787072_6f6d6f

// Migration is one numbered file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var nameRe = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// All returns the embedded migrations in order.
func All() ([]Migration, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, fmt.Errorf("postgres migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		m := nameRe.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("postgres migrations: file %q is not named NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if prev, ok := seen[v]; ok {
			return nil, fmt.Errorf("postgres migrations: version %d used by %s and %s", v, prev, e.Name())
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(files, e.Name())
		if err != nil {
			return nil, fmt.Errorf("postgres migrations: %w", err)
		}
		out = append(out, Migration{Version: v, Name: m[2], SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Migrate applies the migrations the database lacks and returns their
// names ("0001_catalog"), oldest first.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	const op = "postgres migrate"
	all, err := All()
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer conn.Release()
	// A session lock, not a transaction one: it spans every migration's
	// own transaction.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(lockKey)); err != nil {
		return nil, fmt.Errorf("%s: lock: %w", op, err)
	}
	defer func() {
		// On a cancelled ctx the unlock cannot be sent; closing the session
		// below releases the lock instead.
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(lockKey)); err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+VersionTable+` (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	applied, err := Applied(ctx, conn.Conn())
	if err != nil {
		return nil, err
	}
	var done []string
	for _, m := range all {
		if applied[m.Version] {
			continue
		}
		name := fmt.Sprintf("%04d_%s", m.Version, m.Name)
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO `+VersionTable+` (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		}); err != nil {
			return done, fmt.Errorf("%s: %s: %w", op, name, err)
		}
		done = append(done, name)
	}
	return done, nil
}

// Applied returns the versions recorded in the database.
func Applied(ctx context.Context, conn *pgx.Conn) (map[int]bool, error) {
	rows, err := conn.Query(ctx, `SELECT version FROM `+VersionTable)
	if err != nil {
		return nil, fmt.Errorf("postgres applied migrations: %w", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, fmt.Errorf("postgres applied migrations: %w", err)
	}
	out := make(map[int]bool, len(vs))
	for _, v := range vs {
		out[int(v)] = true
	}
	return out, nil
}
