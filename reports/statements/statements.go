// Package statements builds the monthly partner statements: per
// partnership, direction, terms currency and terms version, the new users
// and attributed revenue of a month and what each side owes for them
// under the partnership's terms. A month is built as a draft while open;
// Close stores it in PostgreSQL (table statements), immutable and
// identified by the SHA-256 of its lines. Events that arrive after a month
// was closed never change it: the next open month carries adjustment lines
// with the differences. docs/STATEMENTS.md states the rules.
package statements

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/lib/plaintext"
)

// Statuses.
const (
	StatusDraft  = "draft"
	StatusClosed = "closed"
)

// Line kinds (KindTotal appears only in exports).
const (
	KindRegular    = "regular"
	KindAdjustment = "adjustment"
	KindTotal      = "total"
)

// Errors, for errors.Is.
var (
	// ErrClosed: the period already has a closed statement (Close
	// answers a *ClosedError saying which).
	ErrClosed = errors.New("statement period is already closed")
	// ErrBadPeriod: the period is not YYYY-MM, or (for Close) has not ended.
	ErrBadPeriod = errors.New("bad statement period")
	// ErrNoTerms: an attribution names a terms version the catalog does
	// not hold, so its money cannot be computed.
	ErrNoTerms = errors.New("no terms for attribution")
	// ErrBadActor: Close was given no usable actor.
	ErrBadActor = errors.New("bad actor")
)

// Line is one statement line: the month's figures of one partnership,
// direction, terms currency and terms version (Kind "regular"), or the
// difference found later in a closed month's line (Kind "adjustment",
// AdjustsPeriod names that month). Amounts are in Currency, rounded
// half-even to its minor unit.
type Line struct {
	Partnership, Partner, Country, Direction, Currency string
	TermsVersion                                       uint32
	Kind                                               string // "regular"|"adjustment"
	AdjustsPeriod                                      string // "" or "2026-09"
	Figures
	FXRates string
}

// Total is the sum of a statement's lines in one currency.
type Total struct {
	Currency string
	Figures
}

// Figures are what a line counts and a total sums: the new users and the
// amounts.
type Figures struct {
	NewUsers                                    int64
	Revenue, CPA, RevShare, WeOwe, TheyOwe, Net decimal.Decimal
}

// plus is f + g, figure by figure.
func (f Figures) plus(g Figures) Figures {
	return Figures{NewUsers: f.NewUsers + g.NewUsers, Revenue: f.Revenue.Add(g.Revenue), CPA: f.CPA.Add(g.CPA),
		RevShare: f.RevShare.Add(g.RevShare), WeOwe: f.WeOwe.Add(g.WeOwe), TheyOwe: f.TheyOwe.Add(g.TheyOwe), Net: f.Net.Add(g.Net)}
}

// minus is f − g, figure by figure.
func (f Figures) minus(g Figures) Figures {
	return Figures{NewUsers: f.NewUsers - g.NewUsers, Revenue: f.Revenue.Sub(g.Revenue), CPA: f.CPA.Sub(g.CPA),
		RevShare: f.RevShare.Sub(g.RevShare), WeOwe: f.WeOwe.Sub(g.WeOwe), TheyOwe: f.TheyOwe.Sub(g.TheyOwe), Net: f.Net.Sub(g.Net)}
}

func (f Figures) isZero() bool {
	return f.NewUsers == 0 && f.Revenue.IsZero() && f.CPA.IsZero() && f.RevShare.IsZero() &&
		f.WeOwe.IsZero() && f.TheyOwe.IsZero() && f.Net.IsZero()
}

// Statement is one month's statement. ID, Hash, ClosedAt and ClosedBy are
// set once closed; a draft has an empty ID and the Hash of its lines as
// they are now.
type Statement struct {
	ID, Period, Status, Hash string
	ClosedAt                 time.Time
	ClosedBy                 string
	Lines                    []Line
	Totals                   []Total
}

// Source is what statements read: ClickHouse (attributions), PostgreSQL
// (the closed statements), the catalog (partnerships and every terms
// version), the countries' time zones (missing: UTC) and the ECB rates
// (needed only when a conversion's currency differs from the terms
// currency).
type Source struct {
	Conn    driver.Conn
	PG      *pgxpool.Pool
	Catalog *catalog.Snapshot
	Zones   map[string]*time.Location
	Rates   *fx.Store
	// Now is the clock that says whether a period has ended; nil is the
	// wall clock.
	Now func() time.Time
}

func (src Source) now() time.Time {
	if src.Now != nil {
		return src.Now()
	}
	return time.Now()
}

var periodRe = regexp.MustCompile(`^([0-9]{4})-([0-9]{2})$`)

// parsePeriod checks a "YYYY-MM" period (2000-01 to 2105-12).
func parsePeriod(period string) (int, time.Month, error) {
	sm := periodRe.FindStringSubmatch(period)
	if sm == nil {
		return 0, 0, fmt.Errorf("%w: %q is not YYYY-MM", ErrBadPeriod, period)
	}
	y, _ := strconv.Atoi(sm[1])
	m, _ := strconv.Atoi(sm[2])
	if m < 1 || m > 12 || y < 2000 || y > 2105 {
		return 0, 0, fmt.Errorf("%w: %q is not a month between 2000-01 and 2105-12", ErrBadPeriod, period)
	}
	return y, time.Month(m), nil
}

func (src Source) zone(cc string) *time.Location {
	if z, ok := src.Zones[cc]; ok && z != nil {
		return z
	}
	return time.UTC
}

// Build returns period's statement: the stored one, unchanged, when the
// period is closed; otherwise a draft computed now, with adjustment lines
// for every closed earlier period whose figures changed since.
func Build(ctx context.Context, src Source, period string) (*Statement, error) {
	if _, _, err := parsePeriod(period); err != nil {
		return nil, err
	}
	if err := src.check(); err != nil {
		return nil, err
	}
	closed, err := loadClosed(ctx, src.PG)
	if err != nil {
		return nil, fmt.Errorf("statement %s: %w", period, err)
	}
	if st, ok := closed[period]; ok {
		return st, nil
	}
	st, err := buildDraft(ctx, src, period, closed)
	if err != nil {
		return nil, fmt.Errorf("statement %s: %w", period, err)
	}
	return st, nil
}

// Close builds period's statement as Build would and stores it, closed by
// actor at the current second. The period must have ended in every
// partnership's time zone. Closing a closed period returns a *ClosedError
// (errors.Is ErrClosed) naming who closed it and when: of two closes of one
// period, from any processes, the first stores the statement and the
// other gets that error. The statement returned is the one read back from
// PostgreSQL, so it exports byte for byte as every later read of it does.
func Close(ctx context.Context, src Source, period, actor string) (*Statement, error) {
	y, m, err := parsePeriod(period)
	if err != nil {
		return nil, err
	}
	if err := src.check(); err != nil {
		return nil, err
	}
	actor = strings.TrimSpace(actor)
	if actor == "" || len(actor) > 200 || !plaintext.Valid(actor) {
		return nil, fmt.Errorf("%w: is required, at most 200 bytes, no control characters", ErrBadActor)
	}
	at := src.now().UTC().Truncate(time.Second)
	end := monthEnd(src, y, m)
	if at.Before(end) {
		return nil, fmt.Errorf("%w: %s has not ended in every partnership's time zone (ends %s)", ErrBadPeriod, period, end.Format(time.RFC3339))
	}
	var got *Statement
	err = pgx.BeginFunc(ctx, src.PG, func(tx pgx.Tx) error {
		// Held until the transaction ends: the closed periods read below
		// stay the closed periods until this statement is stored.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(closeLockKey)); err != nil {
			return err
		}
		closed, err := loadClosed(ctx, tx)
		if err != nil {
			return err
		}
		if st, ok := closed[period]; ok {
			return closedError(st)
		}
		st, err := buildDraft(ctx, src, period, closed)
		if err != nil {
			return err
		}
		canon, err := canonicalLines(st.Lines)
		if err != nil {
			return err
		}
		st.Status, st.ClosedAt, st.ClosedBy = StatusClosed, at, actor
		st.Hash = hashOf(canon)
		st.ID = "st_" + period + "_" + st.Hash[:12]
		if err := insertStatement(ctx, tx, st, canon); err != nil {
			return err
		}
		if got, err = loadPeriod(ctx, tx, period); err != nil {
			return fmt.Errorf("read back: %w", err)
		}
		if got == nil {
			return errors.New("the stored statement cannot be read back")
		}
		return nil
	})
	if errors.Is(err, ErrClosed) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("close statement %s: %w", period, err)
	}
	return got, nil
}

func (src Source) check() error {
	if src.Conn == nil || src.PG == nil || src.Catalog == nil {
		return errors.New("statements: source needs ClickHouse, PostgreSQL and a catalog")
	}
	return nil
}

// monthEnd is the latest instant at which the month ends in the zone of
// any partnership (UTC when there is none).
func monthEnd(src Source, y int, m time.Month) time.Time {
	end := time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
	for _, ps := range src.Catalog.Partnerships {
		if e := time.Date(y, m+1, 1, 0, 0, 0, 0, src.zone(ps.Country)).UTC(); e.After(end) {
			end = e
		}
	}
	return end
}

func hashOf(canon []byte) string {
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

// buildDraft computes period's lines and the adjustments of the closed
// periods before it (closed holds every closed period).
func buildDraft(ctx context.Context, src Source, period string, closed map[string]*Statement) (*Statement, error) {
	// Missing rates of the period and of the closed ones are listed together.
	lines, err := computeLines(ctx, src, period)
	missing, err := takeMissing(nil, err)
	if err != nil {
		return nil, err
	}
	adj, err := adjustments(ctx, src, period, closed)
	if missing, err = takeMissing(missing, err); err != nil {
		return nil, err
	}
	if missing != nil {
		return nil, missing
	}
	lines = append(lines, adj...)
	sortLines(lines)
	canon, err := canonicalLines(lines)
	if err != nil {
		return nil, err
	}
	return &Statement{
		Period: period, Status: StatusDraft, Hash: hashOf(canon),
		Lines: lines, Totals: totals(lines),
	}, nil
}

// lineKey identifies a line within a period.
type lineKey struct {
	partnership, direction, currency string
	version                          uint32
}

func keyOf(l Line) lineKey {
	return lineKey{l.Partnership, l.Direction, l.Currency, l.TermsVersion}
}

// adjustments compares every closed period C before period with C
// recomputed now. What C should hold is its closed regular lines plus the
// adjustments for C already carried by closed statements (closed holds
// every closed period); any difference becomes an adjustment line.
func adjustments(ctx context.Context, src Source, period string, closed map[string]*Statement) ([]Line, error) {
	var periods, all []string
	for p := range closed {
		all = append(all, p)
		if p < period {
			periods = append(periods, p)
		}
	}
	sort.Strings(periods)
	sort.Strings(all)
	var out []Line
	var missing *MissingRatesError
	for _, c := range periods {
		expected := map[lineKey]Line{}
		add := func(l Line) {
			k := keyOf(l)
			e, ok := expected[k]
			if !ok {
				e = Line{Partnership: l.Partnership, Partner: l.Partner, Country: l.Country, Direction: l.Direction,
					Currency: l.Currency, TermsVersion: l.TermsVersion}
			}
			e.Figures = e.Figures.plus(l.Figures)
			expected[k] = e
		}
		for _, l := range closed[c].Lines {
			if l.Kind == KindRegular {
				add(l)
			}
		}
		// Adjustments for c already carried by any closed statement (a
		// later period may have been closed before an earlier one).
		for _, d := range all {
			for _, l := range closed[d].Lines {
				if l.Kind == KindAdjustment && l.AdjustsPeriod == c {
					add(l)
				}
			}
		}
		now, err := computeLines(ctx, src, c)
		if missing, err = takeMissing(missing, err); err != nil {
			return nil, fmt.Errorf("recompute closed %s: %w", c, err)
		}
		if now == nil {
			continue // rates missing: listed, no adjustment computed
		}
		seen := map[lineKey]bool{}
		for _, l := range now {
			k := keyOf(l)
			seen[k] = true
			d := l
			d.Figures = l.Figures.minus(expected[k].Figures)
			if !d.isZero() {
				d.Kind, d.AdjustsPeriod, d.FXRates = KindAdjustment, c, l.FXRates
				out = append(out, d)
			}
		}
		for k, e := range expected {
			if seen[k] || e.isZero() {
				continue
			}
			d := Line{Partnership: e.Partnership, Partner: e.Partner, Country: e.Country,
				Direction: e.Direction, Currency: e.Currency, TermsVersion: e.TermsVersion,
				Kind: KindAdjustment, AdjustsPeriod: c, Figures: Figures{}.minus(e.Figures)}
			out = append(out, d)
		}
	}
	if missing != nil {
		return nil, missing
	}
	return out, nil
}

// sortLines orders regular lines before adjustments (by the period they
// adjust), then by country, partnership, direction, terms version and
// currency.
func sortLines(ls []Line) {
	sort.SliceStable(ls, func(i, j int) bool {
		a, b := ls[i], ls[j]
		if (a.Kind == KindAdjustment) != (b.Kind == KindAdjustment) {
			return a.Kind != KindAdjustment
		}
		if a.AdjustsPeriod != b.AdjustsPeriod {
			return a.AdjustsPeriod < b.AdjustsPeriod
		}
		if a.Country != b.Country {
			return a.Country < b.Country
		}
		if a.Partnership != b.Partnership {
			return a.Partnership < b.Partnership
		}
		if a.Direction != b.Direction {
			return a.Direction < b.Direction
		}
		if a.TermsVersion != b.TermsVersion {
			return a.TermsVersion < b.TermsVersion
		}
		return a.Currency < b.Currency
	})
}

// totals sums the (already rounded) lines per currency, sorted by currency.
func totals(ls []Line) []Total {
	by := map[string]*Total{}
	var curs []string
	for _, l := range ls {
		t := by[l.Currency]
		if t == nil {
			t = &Total{Currency: l.Currency}
			by[l.Currency] = t
			curs = append(curs, l.Currency)
		}
		t.Figures = t.Figures.plus(l.Figures)
	}
	sort.Strings(curs)
	out := make([]Total, 0, len(curs))
	for _, c := range curs {
		out = append(out, *by[c])
	}
	return out
}

// Scoped returns a copy of s keeping the lines of the given countries (nil:
// all; an empty non-nil slice: none) and partner ("": all), with the totals
// recomputed from the kept lines. ID, Hash and the metadata are kept: they
// name the whole statement the lines come from.
func (s *Statement) Scoped(countries []string, partner string) *Statement {
	out := *s
	out.Lines = []Line{}
	for _, l := range s.Lines {
		if countries != nil && !slices.Contains(countries, l.Country) {
			continue
		}
		if partner != "" && l.Partner != partner {
			continue
		}
		out.Lines = append(out.Lines, l)
	}
	out.Totals = totals(out.Lines)
	if countries != nil || partner != "" {
		out.ClosedBy = "" // who closed it is finance's business, not a scoped reader's
	}
	return &out
}
