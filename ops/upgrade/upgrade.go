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
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

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

// CopyCatalog copies the catalog tables (partners, partnerships,
// partnership_terms, links, audit_log, in that order, the order of their
// foreign keys; then fx_rates, country_settings, statements: the tables
// listed in tables) from the ClickHouse database of ch into PostgreSQL, in one
// transaction: the whole catalog is copied or nothing is. A table that
// does not exist in ClickHouse (a fresh install) is skipped.
//
// Rows are read as the earlier releases read them (FINAL on the
// ReplacingMergeTree tables) and mapped to the PostgreSQL columns: an
// expires_at of 1970-01-01 00:00:00 and an end_date of 1970-01-01 become
// NULL, partner_may_create_links 1 becomes true, dates are UTC days. Each
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

// kind is how a column is read, written and written out canonically.
type kind int

const (
	kText     kind = iota
	kTextArr       // Array(String) -> text[]
	kTime          // DateTime -> timestamptz
	kTimeNull      // DateTime, 1970-01-01 00:00:00 meaning none -> timestamptz NULL
	kDate          // Date -> date
	kDateNull      // Date, 1970-01-01 meaning none -> date NULL
	kDecimal       // Decimal(p, s) -> numeric(p, s)
	kInt           // UInt* (read as toInt64) -> integer, bigint
	kBool          // UInt8 -> boolean
)

type column struct {
	name string
	kind kind
	ch   string // the ClickHouse expression, when not the bare name
}

// table is one catalog table; its first nkey columns are its primary key
// in PostgreSQL.
type table struct {
	name  string
	final bool // read with FINAL (a ReplacingMergeTree)
	nkey  int
	then  string // ClickHouse's order within a key: its first row is copied
	cols  []column
}

// tables in foreign-key order. version and rev are not copied: see
// CopyCatalog. ClickHouse's version columns are nanosecond stamps of the
// write, not edit counts.
var tables = []table{
	{name: "partners", final: true, nkey: 1, cols: []column{
		{name: "id"}, {name: "name"}, {name: "domains", kind: kTextArr},
		{name: "status", ch: "toString(status)"}, {name: "countries", kind: kTextArr},
		{name: "updated_at", kind: kTime},
	}},
	{name: "partnerships", final: true, nkey: 1, cols: []column{
		{name: "id"}, {name: "partner"}, {name: "country", ch: "toString(country)"},
		{name: "direction", ch: "toString(direction)"}, {name: "updated_at", kind: kTime},
	}},
	{name: "partnership_terms", final: true, nkey: 2, cols: []column{
		{name: "partnership"}, {name: "version", kind: kInt}, {name: "effective_from", kind: kDate},
		{name: "currency"},
		{name: "inbound_cpa", kind: kDecimal}, {name: "inbound_revshare_pct", kind: kDecimal},
		{name: "inbound_revenue_window_days", kind: kInt},
		{name: "outbound_cpa", kind: kDecimal}, {name: "outbound_revshare_pct", kind: kDecimal},
		{name: "outbound_revenue_window_days", kind: kInt},
		{name: "attribution_model", ch: "toString(attribution_model)"},
		{name: "attribution_window_days", kind: kInt},
		{name: "target_inbound_users_month", kind: kInt}, {name: "target_outbound_users_month", kind: kInt},
		{name: "start_date", kind: kDate}, {name: "end_date", kind: kDateNull},
		{name: "status", ch: "toString(status)"}, {name: "fallback_url"},
		{name: "partner_may_create_links", kind: kBool},
		{name: "created_at", kind: kTime}, {name: "created_by"},
	}},
	{name: "links", final: true, nkey: 1, cols: []column{
		{name: "code"}, {name: "partnership"}, {name: "partner"},
		{name: "direction", ch: "toString(direction)"}, {name: "url"}, {name: "campaign"},
		{name: "status", ch: "toString(status)"}, {name: "expires_at", kind: kTimeNull},
		{name: "created_by"}, {name: "updated_at", kind: kTime},
	}},
	// A plain MergeTree: a retried insert may have stored an entry twice;
	// copyTable keeps the first row of each id.
	{name: "audit_log", nkey: 1, cols: []column{
		{name: "id"}, {name: "ts", kind: kTime}, {name: "actor"}, {name: "action"},
		{name: "entity"}, {name: "entity_id"}, {name: "country"}, {name: "before"}, {name: "after"},
	}},
	// A reload of the same day's rates wrote the key again: FINAL keeps
	// the latest load, as domain/fx read it.
	{name: "fx_rates", final: true, nkey: 2, cols: []column{
		{name: "date", kind: kDate}, {name: "currency"}, {name: "per_eur", kind: kDecimal}, {name: "loaded_at", kind: kTime},
	}},
	{name: "country_settings", final: true, nkey: 1, cols: []column{
		{name: "country", ch: "toString(country)"}, {name: "timezone"}, {name: "updated_at", kind: kTime}, {name: "updated_by"},
	}},
	// A plain MergeTree where two closes of one month racing could both
	// land; readers took the earlier (closed_at, then id), so that is the
	// statement copied.
	{name: "statements", nkey: 1, then: "closed_at, id", cols: []column{
		{name: "period"}, {name: "id"}, {name: "hash"}, {name: "closed_at", kind: kTime}, {name: "closed_by"}, {name: "lines"},
	}},
}

func (t table) names() []string {
	out := make([]string, len(t.cols))
	for i, c := range t.cols {
		out[i] = c.name
	}
	return out
}

func (t table) keyNames() []string { return t.names()[:t.nkey] }

func (t table) chQuery() string {
	exprs := make([]string, len(t.cols))
	for i, c := range t.cols {
		switch {
		case c.ch != "":
			exprs[i] = c.ch
		case c.kind == kInt:
			exprs[i] = "toInt64(" + c.name + ")"
		default:
			exprs[i] = c.name
		}
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + t.name
	if t.final {
		q += " FINAL"
	}
	// Ordered by key, so duplicates of a key (audit_log) are adjacent.
	q += " ORDER BY " + strings.Join(t.keyNames(), ", ")
	if t.then != "" {
		q += ", " + t.then
	}
	return q
}

// chTargets returns scan destinations for a ClickHouse row of t.
func (t table) chTargets() []any {
	out := make([]any, len(t.cols))
	for i, c := range t.cols {
		switch c.kind {
		case kText:
			out[i] = new(string)
		case kTextArr:
			out[i] = new([]string)
		case kTime, kTimeNull, kDate, kDateNull:
			out[i] = new(time.Time)
		case kDecimal:
			out[i] = new(decimal.Decimal)
		case kInt:
			out[i] = new(int64)
		case kBool:
			out[i] = new(uint8)
		}
	}
	return out
}

// fromCH maps scanned ClickHouse values to the values PostgreSQL stores.
func (t table) fromCH(dst []any) []any {
	out := make([]any, len(t.cols))
	for i, c := range t.cols {
		switch c.kind {
		case kText:
			out[i] = *dst[i].(*string)
		case kTextArr:
			out[i] = nonNil(*dst[i].(*[]string))
		case kTime:
			out[i] = dst[i].(*time.Time).UTC()
		case kTimeNull:
			if v := *dst[i].(*time.Time); v.Unix() != 0 {
				out[i] = v.UTC()
			}
		case kDate:
			out[i] = utcDay(*dst[i].(*time.Time))
		case kDateNull:
			if d := utcDay(*dst[i].(*time.Time)); d.Unix() != 0 {
				out[i] = d
			}
		case kDecimal:
			out[i] = *dst[i].(*decimal.Decimal)
		case kInt:
			out[i] = *dst[i].(*int64)
		case kBool:
			out[i] = *dst[i].(*uint8) != 0
		}
	}
	return out
}

// pgTargets returns scan destinations for a PostgreSQL row of t.
func (t table) pgTargets() []any {
	out := make([]any, len(t.cols))
	for i, c := range t.cols {
		switch c.kind {
		case kText:
			out[i] = new(string)
		case kTextArr:
			out[i] = new([]string)
		case kTime, kDate:
			out[i] = new(time.Time)
		case kTimeNull, kDateNull:
			out[i] = new(*time.Time)
		case kDecimal:
			out[i] = new(decimal.Decimal)
		case kInt:
			out[i] = new(int64)
		case kBool:
			out[i] = new(bool)
		}
	}
	return out
}

// fromPG turns scanned PostgreSQL values into the form fromCH gives.
func (t table) fromPG(dst []any) []any {
	out := make([]any, len(t.cols))
	for i, c := range t.cols {
		switch c.kind {
		case kTimeNull, kDateNull:
			if v := *dst[i].(**time.Time); v != nil {
				out[i] = v.UTC()
			}
		case kTextArr:
			out[i] = nonNil(*dst[i].(*[]string))
		case kTime, kDate:
			out[i] = dst[i].(*time.Time).UTC()
		default:
			// *string, *decimal.Decimal, *int64, *bool
			switch p := dst[i].(type) {
			case *string:
				out[i] = *p
			case *decimal.Decimal:
				out[i] = *p
			case *int64:
				out[i] = *p
			case *bool:
				out[i] = *p
			}
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// utcDay is the calendar day of a Date value as a UTC midnight, whatever
// location the driver gave it.
func utcDay(v time.Time) time.Time {
	y, m, d := v.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// key is the row's primary key as text, columns joined by a NUL: each
// column as PostgreSQL's ::text writes it, since the keys the INSERT
// returns are matched against these.
func (t table) key(vals []any) string {
	parts := make([]string, t.nkey)
	for i := range parts {
		if d, ok := vals[i].(time.Time); ok && t.cols[i].kind == kDate {
			parts[i] = d.Format(time.DateOnly)
			continue
		}
		parts[i] = fmt.Sprint(vals[i])
	}
	return strings.Join(parts, "\x00")
}

// showKey is a key as an error message names it.
func showKey(k string) string { return strings.ReplaceAll(k, "\x00", "/") }

// canonical is the row's canonical text line: every column in a fixed
// format, tab-separated. Both sides' values go through fromCH/fromPG
// first, so equal rows give equal lines.
func (t table) canonical(vals []any) string {
	var b strings.Builder
	for i, c := range t.cols {
		if i > 0 {
			b.WriteByte('\t')
		}
		v := vals[i]
		if v == nil {
			b.WriteString("NULL")
			continue
		}
		switch c.kind {
		case kText:
			b.WriteString(strconv.Quote(v.(string)))
		case kTextArr:
			b.WriteByte('[')
			for j, s := range v.([]string) {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.Quote(s))
			}
			b.WriteByte(']')
		case kTime, kTimeNull:
			b.WriteString(v.(time.Time).UTC().Format(time.RFC3339Nano))
		case kDate, kDateNull:
			b.WriteString(v.(time.Time).Format(time.DateOnly))
		case kDecimal:
			b.WriteString(v.(decimal.Decimal).String())
		case kInt:
			b.WriteString(strconv.FormatInt(v.(int64), 10))
		case kBool:
			b.WriteString(strconv.FormatBool(v.(bool)))
		}
	}
	return b.String()
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
