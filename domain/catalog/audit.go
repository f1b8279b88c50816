package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/xpromo/xpromo/lib/ids"
)

// Audit vocabulary of API token changes: the tokens live in http/auth, but
// every writer (the API, the dashboard, the CLI) files them in this log
// under these names (a creation uses ActionCreate).
const (
	EntityToken  = "token"
	ActionRevoke = "revoke"
)

// AuditEntry is one change: who (Actor) did what (Action) to which thing
// (Entity, EntityID), when, with the thing's JSON before ("" when it is
// new) and after. Country is the thing's country, "" when it has none, so
// a country manager can be shown the audit of their countries only.
type AuditEntry struct {
	TS       time.Time `json:"ts"`
	ID       string    `json:"id"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Entity   string    `json:"entity"`
	EntityID string    `json:"entity_id"`
	Country  string    `json:"country"`
	Before   string    `json:"before"`
	After    string    `json:"after"`
	// Tx is the database transaction the entry was written in: the
	// entries of one change that spans objects (a replication) share it.
	// 0 for entries copied in bulk.
	Tx int64 `json:"tx,omitempty"`
}

// AuditFilter selects audit entries; zero fields do not filter. From is
// inclusive and To exclusive. Countries nil means every country (and
// none); an empty non-nil slice matches nothing.
type AuditFilter struct {
	Entity    string
	EntityID  string
	Actor     string
	From, To  time.Time
	Tx        int64 // the entries of one transaction
	Limit     int   // default DefaultAuditLimit, at most MaxAuditLimit
	Countries []string
}

// Limits on AuditLog results.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 10000
)

const (
	auditColumns = `ts, id, actor, action, entity, entity_id, country, before, after`
	selectAudit  = `SELECT ` + auditColumns + `, coalesce(tx, 0) FROM audit_log`
	// txid_current: the writing transaction's id, the same for every entry
	// it writes (a bulk copy leaves tx NULL).
	insertAudit = `INSERT INTO audit_log (` + auditColumns + `, tx) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, txid_current())`
)

// Audit writes e on its own, giving it an id and the current time when
// they are empty: for changes kept outside the catalog (tokens). A
// catalog change writes its entry in its own transaction instead.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	return wrapErr("audit", pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error { return s.audit(ctx, tx, e) }))
}

// AuditTx writes e in tx, a transaction of the caller's on this
// database: for changes kept outside the catalog (tokens, postback
// secrets) that are filed together with their audit entry or not at all.
func (s *Store) AuditTx(ctx context.Context, tx pgx.Tx, e AuditEntry) error {
	return wrapErr("audit", s.audit(ctx, tx, e))
}

// audit checks e and inserts it in tx.
func (s *Store) audit(ctx context.Context, tx pgx.Tx, e AuditEntry) error {
	for _, f := range []struct{ name, v string }{{"actor", e.Actor}, {"action", e.Action}, {"entity", e.Entity}} {
		if strings.TrimSpace(f.v) == "" {
			return fieldErr(f.name, "is required")
		}
	}
	for _, f := range []struct{ name, v string }{{"before", e.Before}, {"after", e.After}} {
		if f.v != "" && !json.Valid([]byte(f.v)) {
			return fieldErr(f.name, "is not valid JSON")
		}
	}
	if e.TS.IsZero() {
		e.TS = s.now()
	}
	// Whole seconds, as the log has always been kept; the id (time-ordered)
	// orders within one.
	e.TS = e.TS.UTC().Truncate(time.Second)
	if e.ID == "" {
		e.ID = ids.New(s.now())
	}
	_, err := tx.Exec(ctx, insertAudit, e.TS, e.ID, e.Actor, e.Action, e.Entity, e.EntityID, e.Country, e.Before, e.After)
	return err
}

// AuditLog returns the entries matching f, newest first.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	const op = "audit log"
	if f.Countries != nil && len(f.Countries) == 0 {
		return nil, nil
	}
	for _, v := range append([]string{f.Entity, f.EntityID, f.Actor}, f.Countries...) {
		if !storable(v) {
			return nil, nil // matches no entry
		}
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	for _, c := range []struct{ col, v string }{{"entity", f.Entity}, {"entity_id", f.EntityID}, {"actor", f.Actor}} {
		if c.v != "" {
			where = append(where, c.col+" = "+arg(c.v))
		}
	}
	// Entries are kept in whole seconds: a bound inside a second covers it
	// whole, as it did when the log lived in ClickHouse.
	if !f.From.IsZero() {
		where = append(where, "ts >= "+arg(f.From.UTC().Truncate(time.Second)))
	}
	if !f.To.IsZero() {
		to := f.To.UTC()
		if t := to.Truncate(time.Second); !t.Equal(to) {
			to = t.Add(time.Second) // exclusive bound: keep the second it falls in
		}
		where = append(where, "ts < "+arg(to))
	}
	if f.Tx != 0 {
		where = append(where, "tx = "+arg(f.Tx))
	}
	if f.Countries != nil {
		where = append(where, "country = ANY("+arg(f.Countries)+")")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	limit = min(limit, MaxAuditLimit)
	q := selectAudit
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY ts DESC, id DESC LIMIT " + arg(limit)

	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		err := r.Scan(&e.TS, &e.ID, &e.Actor, &e.Action, &e.Entity, &e.EntityID, &e.Country, &e.Before, &e.After, &e.Tx)
		e.TS = e.TS.UTC()
		return e, err
	})
	if err != nil || len(out) == 0 {
		return nil, wrapErr(op, err)
	}
	return out, nil
}
