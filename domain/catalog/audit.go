package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/schema"
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
}

// AuditFilter selects audit entries; zero fields do not filter. From is
// inclusive and To exclusive. Countries nil means every country (and
// none); an empty non-nil slice matches nothing.
type AuditFilter struct {
	Entity    string
	EntityID  string
	Actor     string
	From, To  time.Time
	Limit     int // default DefaultAuditLimit, at most MaxAuditLimit
	Countries []string
}

// Limits on AuditLog results.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 10000
)

const (
	selectAudit = `SELECT ts, id, actor, action, entity, entity_id, country, before, after FROM audit_log`
)

// Audit writes e, giving it an id and the current time when they are empty.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	const op = "audit"
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
	// DateTime keeps whole seconds; the id (time-ordered) orders within one.
	e.TS = e.TS.UTC().Truncate(time.Second)
	if e.ID == "" {
		e.ID = ids.New(s.now())
	}
	batch, err := s.conn.PrepareBatch(ctx, schema.AuditLog.Insert())
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer batch.Close()
	if err := batch.Append(e.TS, e.ID, e.Actor, e.Action, e.Entity, e.EntityID, e.Country, e.Before, e.After); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// AuditLog returns the entries matching f, newest first.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	const op = "audit log"
	if f.Countries != nil && len(f.Countries) == 0 {
		return nil, nil
	}
	var (
		where []string
		args  []any
	)
	for _, c := range []struct{ col, v string }{{"entity", f.Entity}, {"entity_id", f.EntityID}, {"actor", f.Actor}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	// Times are bound as whole seconds: a fraction would make the driver
	// write toDateTime64, which 18.16 lacks.
	if !f.From.IsZero() {
		where = append(where, "ts >= ?")
		args = append(args, f.From.UTC().Truncate(time.Second))
	}
	if !f.To.IsZero() {
		to := f.To.UTC()
		if t := to.Truncate(time.Second); !t.Equal(to) {
			to = t.Add(time.Second) // exclusive bound: keep the second it falls in
		}
		where = append(where, "ts < ?")
		args = append(args, to)
	}
	if f.Countries != nil {
		where = append(where, "has(?, country)")
		args = append(args, f.Countries)
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
	q += fmt.Sprintf(" ORDER BY ts DESC, id DESC LIMIT %d", limit)

	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.TS, &e.ID, &e.Actor, &e.Action, &e.Entity, &e.EntityID, &e.Country, &e.Before, &e.After); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		e.TS = e.TS.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}
