package catalog

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/xpromo/xpromo/lib/pgdb"
)

// Bulk is a whole catalog to store at once, with its audit entries.
type Bulk struct {
	Partners     []Partner
	Partnerships []Partnership
	Terms        []Terms
	Links        []Link
	Audit        []AuditEntry
}

// Import stores b in one transaction with COPY: what the Store's writes
// would store one change at a time, for catalogs too big for that
// (`xpromo gen`). The rows must be valid and normalised as the writes make
// them (the caller checks them with this package's validation); the
// tables' constraints still refuse duplicates and dangling references,
// and then nothing is stored.
func (s *Store) Import(ctx context.Context, b Bulk) error {
	const op = "import catalog"
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if err := LockWrites(ctx, tx); err != nil {
			return err
		}
		copies := []struct {
			table, columns string
			n              int
			row            func(i int) []any
		}{
			{"partners", partnerColumns, len(b.Partners), func(i int) []any {
				p := b.Partners[i]
				return []any{p.ID, p.Name, p.Domains, p.Status, p.Countries}
			}},
			{"partnerships", partnershipColumns, len(b.Partnerships), func(i int) []any {
				p := b.Partnerships[i]
				return []any{p.ID, p.Partner, p.Country, p.Direction}
			}},
			{"partnership_terms", termsColumns, len(b.Terms), func(i int) []any { return termsValues(b.Terms[i]) }},
			{"links", linkColumns, len(b.Links), func(i int) []any {
				l := b.Links[i]
				return []any{l.Code, l.Partnership, l.Partner, l.Direction, l.URL, l.Campaign, l.Status, pgdb.NullTime(l.ExpiresAt), l.CreatedBy}
			}},
			{"audit_log", auditColumns, len(b.Audit), func(i int) []any {
				e := b.Audit[i]
				return []any{e.TS, e.ID, e.Actor, e.Action, e.Entity, e.EntityID, e.Country, e.Before, e.After}
			}},
		}
		for _, c := range copies {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, columnNames(c.columns), pgx.CopyFromSlice(c.n, func(i int) ([]any, error) {
				return c.row(i), nil
			})); err != nil {
				return fmt.Errorf("%s: %w", c.table, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	s.changed(ctx)
	return nil
}

// columnNames splits a column list of this package's queries.
func columnNames(list string) []string {
	names := strings.Split(list, ",")
	for i, n := range names {
		names[i] = strings.TrimSpace(n)
	}
	return names
}
