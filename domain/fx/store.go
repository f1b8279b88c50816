package fx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/schema"
)

// BatchSize is the most rows Load writes per insert.
const BatchSize = 10_000

const (
	// FINAL: a reloaded file writes its keys again; the latest load wins.
	selectRates = `SELECT date, currency, per_eur FROM fx_rates FINAL
WHERE date >= toDate(?) AND date <= toDate(?)
ORDER BY currency, date`
)

// ClickHouse Date holds days since 1970 in a UInt16; keep to the range
// every version documents.
var (
	minDate = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDate = time.Date(2105, 12, 31, 0, 0, 0, 0, time.UTC)
)

// Store reads and writes the fx_rates table.
type Store struct {
	conn driver.Conn
	now  func() time.Time
}

// NewStore returns a store on conn, a database migrated by package schema.
func NewStore(conn driver.Conn) *Store {
	return &Store{conn: conn, now: time.Now}
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

// Load writes rates in inserts of at most BatchSize rows and returns how
// many rows it wrote. Every rate is checked before anything is written; a
// (currency, date) given twice is refused. All rows of one call share one
// loaded_at, the ReplacingMergeTree version, so loading the same rates
// again, or resuming after a failed call, is harmless: a read with FINAL
// sees each key once, with the latest load's value.
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
	loadedAt := s.now().UTC().Truncate(time.Second)
	n := 0
	for start := 0; start < len(rates); start += BatchSize {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("fx: load: %w", err)
		}
		chunk := rates[start:min(start+BatchSize, len(rates))]
		if err := s.insert(ctx, chunk, loadedAt); err != nil {
			return n, err
		}
		n += len(chunk)
	}
	return n, nil
}

func (s *Store) insert(ctx context.Context, rates []Rate, loadedAt time.Time) error {
	batch, err := s.conn.PrepareBatch(ctx, schema.FXRates.Insert())
	if err != nil {
		return fmt.Errorf("fx: load: %w", err)
	}
	defer batch.Close()
	for _, r := range rates {
		if err := batch.Append(r.Date, r.Currency, r.PerEUR, loadedAt); err != nil {
			return fmt.Errorf("fx: load %s %s: %w", r.Currency, r.Date.Format(time.DateOnly), err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("fx: load: %w", err)
	}
	return nil
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
	rows, err := s.conn.Query(ctx, selectRates, lo.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("fx: read rates: %w", err)
	}
	defer rows.Close()
	t := &Table{from: from, to: to, rates: map[string][]point{}}
	for rows.Next() {
		var (
			d   time.Time
			cur string
			per decimal.Decimal
		)
		if err := rows.Scan(&d, &cur, &per); err != nil {
			return nil, fmt.Errorf("fx: read rates: %w", err)
		}
		y, m, dd := d.Date() // the Date column's calendar day, whatever zone it came in
		t.rates[cur] = append(t.rates[cur], point{time.Date(y, m, dd, 0, 0, 0, 0, time.UTC), per})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fx: read rates: %w", err)
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
