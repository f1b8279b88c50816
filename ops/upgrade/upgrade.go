// Package upgrade copies a catalog of record kept in ClickHouse by earlier
// releases into PostgreSQL, once, as part of `xpromo migrate`.
package upgrade

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xpromo/xpromo/domain/catalog"
)

// TableCopy is what CopyCatalog did to one table.
type TableCopy struct {
	Table string
	// Skipped: the ClickHouse table does not exist (a fresh install);
	// nothing was read or written.
	Skipped bool
	// Source is the number of rows ClickHouse holds (one per key: the
	// latest version of a row read with FINAL).
	Source int
	// Copied is the number of them inserted into PostgreSQL by this run:
	// all of them the first time, 0 on a repeat.
	Copied int
	// Target is the number of rows PostgreSQL holds with the keys of the
	// Source rows, after the copy: always Source when CopyCatalog succeeds.
	Target int
	// Kept is the number of Source keys PostgreSQL held already whose row
	// differs from ClickHouse's (changed after an earlier copy): they were
	// left as PostgreSQL has them.
	Kept int
	// Checksum is the checksum of the ClickHouse rows (see CopyCatalog);
	// TargetChecksum that of the PostgreSQL rows with the same keys. They
	// are equal unless Kept > 0.
	Checksum       string
	TargetChecksum string
}

// CopyCatalog copies the tables of record (partners, partnerships,
// partnership_terms, links, tokens, partner_secrets, audit_log, fx_rates,
// country_settings, statements: the list in tables.go, in the order of
// their foreign keys) from the ClickHouse database of ch into PostgreSQL,
// in one transaction: all of them are copied or nothing is. A table that
// does not exist in ClickHouse (a fresh install) is skipped.
//
// Rows are read as the earlier releases read them (FINAL on the
// ReplacingMergeTree tables) and mapped to the PostgreSQL columns: an
// expires_at of 1970-01-01 00:00:00 and an end_date of 1970-01-01 become
// NULL, partner_may_create_links 1 becomes true, dates are UTC days, a
// token's hex secret_hash becomes its 32 bytes, a revoked secret version
// keeps no sealed secret. Each
// row's version and rev are left to their column defaults: version (the
// edit count the API's ETags use) starts at 1, and rev takes nextval of
// catalog_rev, so the sequence is ahead of every copied row.
//
// Rows are inserted with ON CONFLICT DO NOTHING. PostgreSQL is the record
// after the first copy: a row it holds already is kept as it is, even when
// it was changed since and differs from ClickHouse's (counted in Kept). So
// running CopyCatalog again is harmless: it copies only rows it did not
// copy before (none, when ClickHouse was not written since), and reports
// the same Source, Target and Checksum.
//
// Before committing, every table is verified: each ClickHouse key must be
// in PostgreSQL, and each row copied by this run must read back equal to
// ClickHouse's, compared over a canonical text form of the row (one line
// per row, every column in a fixed format). A difference rolls the whole
// copy back with an error naming the table and the first differing key.
// The checksum of a table is the SHA-256 over the SHA-256s of its rows'
// canonical lines, in key order.
//
// The ClickHouse tables are left in place, untouched: a rollback to the
// previous release finds its catalog as it was (without the changes made
// in PostgreSQL since). Run it with the previous release's writers
// stopped; rows they write afterwards are copied by running it again.
func CopyCatalog(ctx context.Context, ch driver.Conn, pg *pgxpool.Pool, log *slog.Logger) ([]TableCopy, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	present, err := chTables(ctx, ch)
	if err != nil {
		return nil, fmt.Errorf("copy catalog: %w", err)
	}
	var out []TableCopy
	err = pgx.BeginFunc(ctx, pg, func(tx pgx.Tx) error {
		// Like every catalog write, so that trackers following the changes
		// (catalog.Store.Changes) see the copied rows in order.
		if err := catalog.LockWrites(ctx, tx); err != nil {
			return err
		}
		for _, t := range tables {
			if !present[t.name] {
				out = append(out, TableCopy{Table: t.name, Skipped: true})
				log.Info("catalog copy: no such table in ClickHouse, skipped", "table", t.name)
				continue
			}
			tc, err := copyTable(ctx, ch, tx, t, log)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			out = append(out, tc)
			log.Info("catalog copy", "table", t.name, "source", tc.Source, "copied", tc.Copied,
				"target", tc.Target, "kept", tc.Kept, "checksum", tc.Checksum)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy catalog (nothing copied): %w", err)
	}
	return out, nil
}

// chTables returns which catalog tables the connection's database holds.
func chTables(ctx context.Context, ch driver.Conn) (map[string]bool, error) {
	rows, err := ch.Query(ctx, `SELECT name FROM system.tables WHERE database = currentDatabase()`)
	if err != nil {
		return nil, fmt.Errorf("list ClickHouse tables: %w", err)
	}
	defer rows.Close()
	present := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list ClickHouse tables: %w", err)
		}
		present[n] = true
	}
	return present, rows.Err()
}

type lineHash = [sha256.Size]byte

// rowState is what copyTable keeps of one ClickHouse row: the hash of its
// canonical line, not the row, so a long audit log is not held in memory.
type rowState struct {
	ch, pg lineHash
	copied bool // inserted by this run
	found  bool // read back from PostgreSQL
}

// copyTable copies t in tx and verifies it.
//
// Rows go through COPY into a temporary table, then one INSERT ... SELECT
// ... ON CONFLICT DO NOTHING into the table: COPY streams the rows straight
// from the ClickHouse cursor in one round trip (an audit log can hold
// millions of entries, where batched INSERTs would take a round trip and a
// parameter list per batch and hit the 65535-parameter limit), and the
// INSERT lets the column defaults fill version and rev and the conflict
// clause skip the keys PostgreSQL holds, which COPY cannot do itself. The
// temporary table is dropped at commit.
func copyTable(ctx context.Context, ch driver.Conn, tx pgx.Tx, t table, log *slog.Logger) (TableCopy, error) {
	tc := TableCopy{Table: t.name}
	cols := t.names()
	keys := t.keyNames()
	tmp := "upgrade_" + t.name
	if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA`,
		tmp, strings.Join(cols, ", "), t.name)); err != nil {
		return tc, fmt.Errorf("temporary table: %w", err)
	}

	rows, err := ch.Query(ctx, t.chQuery())
	if err != nil {
		return tc, fmt.Errorf("read ClickHouse: %w", err)
	}
	src := &chSource{t: t, rows: rows, dst: t.chTargets(), state: map[string]*rowState{}}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{tmp}, cols, src)
	rows.Close()
	if err == nil {
		err = src.err
	}
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return tc, fmt.Errorf("copy from ClickHouse: %w", err)
	}
	tc.Source = len(src.order)

	// Ordered by key, so the revs taken from catalog_rev follow the keys.
	textKeys := make([]string, len(keys))
	for i, k := range keys {
		textKeys[i] = k + "::text"
	}
	ins := fmt.Sprintf(`INSERT INTO %[1]s (%[2]s) SELECT %[2]s FROM %[3]s ORDER BY %[4]s ON CONFLICT DO NOTHING RETURNING %[5]s`,
		t.name, strings.Join(cols, ", "), tmp, strings.Join(keys, ", "), strings.Join(textKeys, ", "))
	ret, err := tx.Query(ctx, ins)
	if err != nil {
		return tc, fmt.Errorf("insert: %w", err)
	}
	kv := make([]string, len(keys))
	kp := make([]any, len(keys))
	for i := range kv {
		kp[i] = &kv[i]
	}
	for ret.Next() {
		if err := ret.Scan(kp...); err != nil {
			ret.Close()
			return tc, fmt.Errorf("insert: %w", err)
		}
		if st := src.state[strings.Join(kv, "\x00")]; st != nil {
			st.copied = true
			tc.Copied++
		}
	}
	ret.Close()
	if err := ret.Err(); err != nil {
		return tc, fmt.Errorf("insert: %w", err)
	}

	// Read back the PostgreSQL rows with the ClickHouse keys.
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = "t." + c
	}
	back, err := tx.Query(ctx, fmt.Sprintf(`SELECT %s FROM %s t JOIN %s u USING (%s)`,
		strings.Join(sel, ", "), t.name, tmp, strings.Join(keys, ", ")))
	if err != nil {
		return tc, fmt.Errorf("read back: %w", err)
	}
	dst := t.pgTargets()
	for back.Next() {
		if err := back.Scan(dst...); err != nil {
			back.Close()
			return tc, fmt.Errorf("read back: %w", err)
		}
		vals := t.fromPG(dst)
		if st := src.state[t.key(vals)]; st != nil && !st.found {
			st.found = true
			st.pg = sha256.Sum256([]byte(t.canonical(vals)))
			tc.Target++
		}
	}
	back.Close()
	if err := back.Err(); err != nil {
		return tc, fmt.Errorf("read back: %w", err)
	}

	chSum, pgSum := sha256.New(), sha256.New()
	for _, k := range src.order {
		st := src.state[k]
		switch {
		case !st.found:
			return tc, fmt.Errorf("key %s of ClickHouse is not in PostgreSQL after the copy "+
				"(another row holds one of its unique values?): %d rows in ClickHouse, %d with their keys in PostgreSQL",
				showKey(k), tc.Source, tc.Target)
		case st.ch != st.pg && st.copied:
			return tc, fmt.Errorf("key %s reads back from PostgreSQL unlike ClickHouse's row (checksums differ)", showKey(k))
		case st.ch != st.pg:
			if tc.Kept == 0 {
				log.Warn("catalog copy: PostgreSQL's row differs from ClickHouse's and is kept as PostgreSQL has it",
					"table", t.name, "key", showKey(k))
			}
			tc.Kept++
		}
		chSum.Write(st.ch[:])
		pgSum.Write(st.pg[:])
	}
	tc.Checksum = hex.EncodeToString(chSum.Sum(nil))
	tc.TargetChecksum = hex.EncodeToString(pgSum.Sum(nil))
	return tc, nil
}

// chSource feeds CopyFrom from the ClickHouse rows, one row per key (the
// first of adjacent duplicates), recording each row's line hash.
type chSource struct {
	t     table
	rows  driver.Rows
	dst   []any
	vals  []any
	prev  string
	order []string // keys in ClickHouse's (key) order
	state map[string]*rowState
	err   error
}

func (s *chSource) Next() bool {
	for s.rows.Next() {
		if err := s.rows.Scan(s.dst...); err != nil {
			s.err = err
			return false
		}
		s.vals = s.t.fromCH(s.dst)
		k := s.t.key(s.vals)
		if len(s.order) > 0 && k == s.prev {
			continue // a duplicate of the previous key: keep the first
		}
		if _, dup := s.state[k]; dup {
			s.err = fmt.Errorf("key %s comes twice, not in key order", showKey(k))
			return false
		}
		s.prev = k
		s.order = append(s.order, k)
		s.state[k] = &rowState{ch: sha256.Sum256([]byte(s.t.canonical(s.vals)))}
		return true
	}
	return false
}

func (s *chSource) Values() ([]any, error) { return slices.Clone(s.vals), nil }

func (s *chSource) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.rows.Err()
}

var _ pgx.CopyFromSource = (*chSource)(nil)
