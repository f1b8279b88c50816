// Package reports computes the reports from ClickHouse: partnerships,
// balance, breakdown, overlaps and capture quality (each a Table), and the
// visitors-by-country count of raw hits (VisitorCountries).
package reports

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The visitors count (VisitorCountries) stays outside Registry: it asks
// another question than the named reports, so it keeps its own Filter and
// writer (WriteVisitorCountries). Its country is the visitor's (the hit's,
// by IP), a named report's the partnership's; its days are UTC, not each
// country's zone; it reads hits alone, every partnership found there,
// without the catalog or a reader's scope; its JSON is a bare array of
// rows, not a Table, and it has no granularity, compare or xlsx. As a
// Runner it would also be served at GET /v1/reports/visitors and take the
// named reports' flags and defaults (`report visitors` starts 29 days
// back, the others on the first of the month).

// Filter selects the hits a report covers. From and To are days (UTC),
// both included.
type Filter struct {
	From, To    time.Time
	Country     string // ISO alpha-2 of the visitor's country; "" for all
	IncludeBots bool
}

// Validate checks the filter.
func (f Filter) Validate() error {
	if f.From.IsZero() || f.To.IsZero() {
		return fmt.Errorf("report: from and to are required")
	}
	from, to := f.bounds()
	if !to.After(from) {
		return fmt.Errorf("report: to (%s) is before from (%s)", f.To.Format(time.DateOnly), f.From.Format(time.DateOnly))
	}
	if to.Sub(from) > 5*366*24*time.Hour {
		return fmt.Errorf("report: period longer than 5 years")
	}
	if f.Country != "" && (len(f.Country) != 2 || f.Country[0] < 'A' || f.Country[0] > 'Z' || f.Country[1] < 'A' || f.Country[1] > 'Z') {
		return fmt.Errorf("report: country %q is not an upper-case ISO alpha-2 code", f.Country)
	}
	return nil
}

func (f Filter) bounds() (time.Time, time.Time) {
	from := time.Date(f.From.Year(), f.From.Month(), f.From.Day(), 0, 0, 0, 0, time.UTC)
	to := time.Date(f.To.Year(), f.To.Month(), f.To.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
	return from, to
}

// VisitorCountryRow is one partnership in one visitor country.
type VisitorCountryRow struct {
	Partnership    string `json:"partnership"`
	Country        string `json:"country"`
	Partner        string `json:"partner"`
	Clicks         uint64 `json:"clicks"`
	UniqueVisitors uint64 `json:"unique_visitors"`
	Views          uint64 `json:"views"`
}

// Clicks and views of bots count only with include_bots (? = 1); unique
// visitors are the exact number of distinct visitor ids among counted
// clicks. Values are bound client-side: 18.16 has no server parameters.
const visitorCountriesSQL = `
SELECT
    partnership,
    country,
    any(partner) AS partner,
    countIf(kind = 'click' AND (is_bot = 0 OR ? = 1)) AS clicks,
    uniqExactIf(visitor, kind = 'click' AND (is_bot = 0 OR ? = 1)) AS unique_visitors,
    countIf(kind = 'view' AND (is_bot = 0 OR ? = 1)) AS views
FROM hits
WHERE ts >= ? AND ts < ?
  AND kind IN ('click', 'view')
  AND partnership != ''
  AND (? = '' OR country = ?)
GROUP BY partnership, country
HAVING clicks + views > 0
ORDER BY partnership, country`

// VisitorCountries computes per partnership and visitor country: clicks,
// unique visitors and views.
func VisitorCountries(ctx context.Context, conn driver.Conn, f Filter) ([]VisitorCountryRow, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	from, to := f.bounds()
	bots := uint8(0)
	if f.IncludeBots {
		bots = 1
	}
	rows, err := conn.Query(ctx, visitorCountriesSQL, bots, bots, bots, from, to, f.Country, f.Country)
	if err != nil {
		return nil, fmt.Errorf("report partnerships: %w", err)
	}
	defer rows.Close()
	var out []VisitorCountryRow
	for rows.Next() {
		var r VisitorCountryRow
		if err := rows.Scan(&r.Partnership, &r.Country, &r.Partner, &r.Clicks, &r.UniqueVisitors, &r.Views); err != nil {
			return nil, fmt.Errorf("report partnerships: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("report partnerships: %w", err)
	}
	return out, nil
}
