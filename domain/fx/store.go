package fx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
)

// BatchSize is the most rows Load writes per statement.
const BatchSize = 10_000

const (
	// A reload writes the same keys again: the latest load wins, as
	// ClickHouse's FINAL read gave when the rates were kept there.
	upsertRates = `INSERT INTO fx_rates (date, currency, per_eur, loaded_at)
SELECT d, c, p, $4 FROM unnest($1::date[], $2::text[], $3::numeric[]) AS r (d, c, p)
ON CONFLICT (date, currency) DO UPDATE SET per_eur = EXCLUDED.per_eur, loaded_at = EXCLUDED.loaded_at`
	selectRates = `SELECT date, currency, per_eur FROM fx_rates
WHERE date >= $1 AND date <= $2
ORDER BY currency, date`
)

// The dates fx_rates held in ClickHouse (days since 1970 in a UInt16):
// the range is kept so that what was loaded once loads again.
var (
	minDate = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDate = time.Date(2105, 12, 31, 0, 0, 0, 0, time.UTC)
)

// Store reads and writes the fx_rates table in PostgreSQL.
type Store struct {
	db  *pgxpool.Pool
	now func() time.Time
}

// NewStore returns a store on db, a database migrated by package
// schema/pg.
func NewStore(db *pgxpool.Pool) *Store {
	return &Store{db: db, now: time.Now}
}

// checkStorable accepts a rate fx_rates holds exactly.
func checkStorable(r Rate) error {
	if err := checkCode(r.Currency); err != nil {
		return fmt.Errorf("fx: %w", err)
	}
	if r.Currency == Base {
		return fmt.Errorf("fx: EUR is the base currency and cannot have a rate")
	}
	if !r.Date.Equal(DateOf(r.Date)) || r.Date.Location() != time.UTC {
		return fmt.Errorf("fx: %s rate date %s is not a UTC midnight", r.Currency, r.Date)
	}
	if r.Date.Before(minDate) || r.Date.After(maxDate) {
		return fmt.Errorf("fx: %s rate date %s is outside %s..%s", r.Currency,
			r.Date.Format(time.DateOnly), minDate.Format(time.DateOnly), maxDate.Format(time.DateOnly))
	}
	if err := checkRate(r.PerEUR); err != nil {
		return fmt.Errorf("fx: %s on %s: %w", r.Currency, r.Date.Format(time.DateOnly), err)
	}
	return nil
}

// Load writes rates, at most BatchSize rows per statement, in one
// transaction, and returns how many rows it wrote. Every rate is checked
// before anything is written; a (currency, date) given twice is refused.
// A (date, currency) already stored takes the new rate, so loading the
// same file again leaves the same rows, and a corrected file replaces the
// rates it corrects. All rows of one call share one loaded_at.
func (s *Store) Load(ctx context.Context, rates []Rate) (int, error) {
	type key struct {
		cur  string
		date time.Time
	}
	seen := make(map[key]struct{}, len(rates))
	for _, r := range rates {
		if err := checkStorable(r); err != nil {
			return 0, err
		}
		k := key{r.Currency, r.Date}
		if _, dup := seen[k]; dup {
			return 0, fmt.Errorf("fx: two %s rates for %s", r.Currency, r.Date.Format(time.DateOnly))
		}
		seen[k] = struct{}{}
	}
	if len(rates) == 0 {
		return 0, nil
	}
	loadedAt := s.now().UTC().Truncate(time.Second)
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		for start := 0; start < len(rates); start += BatchSize {
			chunk := rates[start:min(start+BatchSize, len(rates))]
			dates := make([]time.Time, len(chunk))
			curs := make([]string, len(chunk))
			pers := make([]string, len(chunk)) // exact as text, cast to numeric by the statement
			for i, r := range chunk {
				dates[i], curs[i], pers[i] = r.Date, r.Currency, r.PerEUR.String()
			}
			if _, err := tx.Exec(ctx, upsertRates, dates, curs, pers, loadedAt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("fx: load: %w", err)
	}
	return len(rates), nil
}

// Rates reads what Convert needs for conversion dates from from's UTC date
// to to's: the rates of those dates and of the MaxAgeDays before from
// (a conversion on a Monday may use the Friday before). The table refuses
// dates outside from..to with ErrOutOfRange, since a later rate it did not
// read might apply to them.
func (s *Store) Rates(ctx context.Context, from, to time.Time) (*Table, error) {
	from, to = DateOf(from), DateOf(to)
	if to.Before(from) {
		return nil, fmt.Errorf("fx: rates from %s to %s: the end is before the start",
			from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	lo := from.AddDate(0, 0, -MaxAgeDays)
	if lo.Before(minDate) {
		lo = minDate
	}
	type row struct {
		Date     time.Time
		Currency string
		PerEUR   decimal.Decimal
	}
	rows, err := s.db.Query(ctx, selectRates, lo, to)
	if err != nil {
		return nil, fmt.Errorf("fx: read rates: %w", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return nil, fmt.Errorf("fx: read rates: %w", err)
	}
	t := &Table{from: from, to: to, rates: map[string][]point{}}
	for _, r := range got {
		y, m, dd := r.Date.Date() // the date column's calendar day, whatever zone it came in
		t.rates[r.Currency] = append(t.rates[r.Currency], point{time.Date(y, m, dd, 0, 0, 0, 0, time.UTC), r.PerEUR})
	}
	return t, nil // ORDER BY currency, date: each slice is sorted
}

// LoadFile parses an ECB file (either CSV layout, or the ECB's zip of one;
// see ParseFile) and loads it, returning the rows loaded and the first and
// last dates in the file. It is what `xpromo fx load FILE` runs. A file
// with no rates at all is an error.
func LoadFile(ctx context.Context, store *Store, path string) (loaded int, dates [2]time.Time, err error) {
	rates, err := ParseFile(path)
	if err != nil {
		return 0, dates, err
	}
	if len(rates) == 0 {
		return 0, dates, fmt.Errorf("fx: %s: %w", path, errNoRates)
	}
	dates = [2]time.Time{rates[0].Date, rates[0].Date}
	for _, r := range rates {
		if r.Date.Before(dates[0]) {
			dates[0] = r.Date
		}
		if r.Date.After(dates[1]) {
			dates[1] = r.Date
		}
	}
	loaded, err = store.Load(ctx, rates)
	if err != nil {
		return loaded, dates, fmt.Errorf("%w (loading %s)", err, path)
	}
	return loaded, dates, nil
}

var errNoRates = errors.New("the file holds no rates (only N/A)")

// WithClock makes s read the time of its business rules from now
// instead of the wall clock (tests move it); it returns s.
func (s *Store) WithClock(now func() time.Time) *Store {
	s.now = now
	return s
}
