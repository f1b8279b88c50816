package reports

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"
)

// QualityColumns are the columns of the quality report.
var QualityColumns = []Column{
	{"partner", KindText}, {"country", KindText},
	{"hits", KindInt}, {"bot_hits", KindInt}, {"bot_share", KindRatio},
	{"rejected", KindInt}, {"rejected_by_reason", KindText},
	{"duplicate_conversions", KindInt},
	{"ingest_lag_p50_s", KindDecimal}, {"ingest_lag_p99_s", KindDecimal},
	{"missing_fx_rates", KindText},
}

// The quality queries name the rows they read by %[1]s (a condition on
// the partnership column) and compute the row's partner and country with
// %[2]s and %[3]s; both come from qualityScope, never from a request.
const (
	qHitsSQL = `SELECT %[2]s AS pr, %[3]s AS pc,
  countIf(kind IN ('click', 'view')),
  countIf(kind IN ('click', 'view') AND is_bot = 1),
  count(),
  quantiles(0.5, 0.99)(toInt64(ingested_at) - toInt64(ts))
FROM hits
WHERE %[1]s AND ts >= ? AND ts < ?
GROUP BY pr, pc`
	qRejectedSQL = `SELECT %[2]s AS pr, %[3]s AS pc, reason, count()
FROM rejected_hits
WHERE %[1]s AND ts >= ? AND ts < ?
GROUP BY pr, pc, reason`
	// A duplicate has no partnership of its own: it counts for the
	// partnership of the conversion it repeats, the earliest attributed
	// one of the same source and user (signups) or order (purchases,
	// refunds); none: unattributed. The originals are looked up over all
	// partnerships, then the duplicates kept by partnership.
	qDuplicatesSQL = `SELECT %[2]s AS pr, %[3]s AS pc, count()
FROM (
  SELECT original AS partnership
  FROM (
    SELECT source, toString(type) AS t, if(type = 'signup', user_id, order_id) AS k
    FROM attributions FINAL
    WHERE outcome = 'duplicate' AND ts >= ? AND ts < ?
  )
  ANY LEFT JOIN (
    SELECT source, toString(type) AS t, if(type = 'signup', user_id, order_id) AS k,
      argMin(partnership, (ts, conversion)) AS original
    FROM attributions FINAL
    WHERE outcome != 'duplicate' AND partnership != '' AND ts < ?
    GROUP BY source, t, k
    HAVING k != ''
  ) USING (source, t, k)
)
WHERE %[1]s
GROUP BY pr, pc`
	// Credited conversions without a reporting amount (noFXCondition),
	// per currency and UTC day (the day whose rate is missing).
	qNoFXSQL = `SELECT %[2]s AS pr, %[3]s AS pc, currency, toDate(ts, 'UTC') AS d, count()
FROM attributions FINAL
WHERE %[1]s AND ts >= ? AND ts < ? AND ` + noFXCondition + `
GROUP BY pr, pc, currency, d`
)

// qualityScope selects rows by partnership for one query: the condition
// and its argument, and the expressions of partner and country with their
// arguments.
type qualityScope struct {
	where     string
	whereArgs []any
	partner   string
	country   string
	keyArgs   []any
}

// inScope selects the partnerships ids; partner and country come from
// the catalog by partnership (the partnership's country, not the
// visitor's).
func inScope(ids, partners, countries []string) qualityScope {
	return qualityScope{
		where:     "partnership IN (SELECT arrayJoin(?))",
		whereArgs: []any{ids},
		partner:   "transform(partnership, ?, ?, '')",
		country:   "transform(partnership, ?, ?, '')",
		keyArgs:   []any{ids, partners, ids, countries},
	}
}

// unattributedScope selects rows without a partnership the catalog knows:
// partner and country "".
func unattributedScope(known []string) qualityScope {
	// "" keeps the array typed (an empty one is Array(Nothing)); it is
	// covered by the first condition anyway.
	known = append(append([]string(nil), known...), "")
	return qualityScope{
		where:     "(partnership = '' OR partnership NOT IN (SELECT arrayJoin(?)))",
		whereArgs: []any{known},
		partner:   "''",
		country:   "''",
	}
}

func (s qualityScope) sql(query string) string {
	return fmt.Sprintf(query, s.where, s.partner, s.country)
}

// args puts the key arguments (in the SELECT list) first, then the
// condition's, then the query's own.
func (s qualityScope) args(own ...any) []any {
	out := append([]any(nil), s.keyArgs...)
	out = append(out, s.whereArgs...)
	return append(out, own...)
}

type qKey struct{ partner, country string }

type qAgg struct {
	hits, bots, rows uint64
	lag              []float64 // p50, p99 over rows
	rejected         uint64
	byReason         map[string]uint64
	duplicates       uint64
	noFX             []fxGap
}

// QualityReport is the capture quality per partner and country (the
// partnership's country from the catalog, not the visitor's) over the
// whole period p.From..p.To, days in each country's time zone:
//
//   - hits: clicks and views, bots included; bot_hits: those flagged as
//     bots (left out of the other reports unless IncludeBots; counted here
//     either way) and bot_share, their share;
//   - rejected: hits refused at capture, and rejected_by_reason the same
//     count per reason as compact text, "bad_amount 3; unknown_code 5"
//     (reasons sorted by name). One text column rather than a column per
//     reason keeps the table one row per partner and country whatever
//     reasons a future capture version adds;
//   - duplicate_conversions: conversions the attribution engine found to
//     repeat another (outcome duplicate, latest computation). A duplicate
//     carries no partnership itself; it counts for the partnership of the
//     conversion it repeats: the earliest attributed conversion from the
//     same source of the same user (signups) or order (purchases,
//     refunds);
//   - missing_fx_rates: credited conversions with revenue that attribution
//     found no ECB rate for (no reporting-currency amount, so left out of
//     every reporting-currency revenue), per currency and UTC day, as
//     compact text "USD 2026-11-03 (2); GBP 2026-11-04 (1)";
//   - ingest_lag_p50_s / _p99_s: quantiles of ingested_at - ts in seconds
//     over every hit (clicks, views, pixel conversions), from ClickHouse
//     quantiles: exact (linearly interpolated) up to 8,192 hits per row, a
//     random sample of 8,192 beyond.
//
// Rows are the partners and countries in p's scope with any hit, rejected
// hit, duplicate or missing rate, sorted by partner then country. Rejected hits, hits
// and duplicates without a partnership the catalog knows (an unknown link
// code, a pixel without a link, a duplicate of an unattributed
// conversion) make one more row, partner and country "" (unattributed,
// last, days in UTC), only for a reader who sees every partner and
// country and named no partnerships (p.Countries nil, p.Partner "",
// p.Partnerships nil). Granularity, Compare and IncludeBots are not used.
func QualityReport(ctx context.Context, env *Env, p Params) (*Table, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	type job struct {
		scope    qualityScope
		from, to time.Time
	}
	var jobs []job
	for tz, list := range env.scopedPartnerships(p) {
		ids := make([]string, len(list))
		partners := make([]string, len(list))
		countries := make([]string, len(list))
		for i, ps := range list {
			ids[i], partners[i], countries[i] = ps.ID, ps.Partner, ps.Country
		}
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("report quality: zone %q: %w", tz, err)
		}
		a, b := bounds(p.From, p.To, loc)
		jobs = append(jobs, job{inScope(ids, partners, countries), a, b})
	}
	unattributed := p.Countries == nil && p.Partner == "" && p.Partnerships == nil
	if unattributed {
		known := make([]string, 0, len(env.Catalog.Partnerships))
		for id := range env.Catalog.Partnerships {
			known = append(known, id)
		}
		sort.Strings(known)
		a, b := bounds(p.From, p.To, time.UTC)
		jobs = append(jobs, job{unattributedScope(known), a, b})
	}

	out := map[qKey]*qAgg{}
	rd := newReads(ctx, env)
	for _, j := range jobs {
		rd.read("hits", j.scope.sql(qHitsSQL), j.scope.args(j.from, j.to), func(r driver.Rows) error {
			var k qKey
			var hits, bots, n uint64
			var lag []float64
			if err := r.Scan(&k.partner, &k.country, &hits, &bots, &n, &lag); err != nil {
				return err
			}
			a := entry(out, k)
			a.hits, a.bots, a.rows, a.lag = hits, bots, n, lag
			return nil
		})
		rd.read("rejected hits", j.scope.sql(qRejectedSQL), j.scope.args(j.from, j.to), func(r driver.Rows) error {
			var k qKey
			var reason string
			var n uint64
			if err := r.Scan(&k.partner, &k.country, &reason, &n); err != nil {
				return err
			}
			a := entry(out, k)
			if a.byReason == nil {
				a.byReason = map[string]uint64{}
			}
			a.byReason[reason] += n
			a.rejected += n
			return nil
		})
		// The selection and the period's arguments sit in the subqueries,
		// before the outer condition.
		args := append([]any(nil), j.scope.keyArgs...)
		args = append(args, j.from, j.to, j.to)
		args = append(args, j.scope.whereArgs...)
		rd.read("duplicates", j.scope.sql(qDuplicatesSQL), args, func(r driver.Rows) error {
			var k qKey
			var n uint64
			if err := r.Scan(&k.partner, &k.country, &n); err != nil {
				return err
			}
			entry(out, k).duplicates += n
			return nil
		})
		rd.read("missing fx rates", j.scope.sql(qNoFXSQL), j.scope.args(j.from, j.to), func(r driver.Rows) error {
			var k qKey
			var g fxGap
			var d time.Time
			if err := r.Scan(&k.partner, &k.country, &g.cur, &d, &g.n); err != nil {
				return err
			}
			g.day = utcDay(d)
			a := entry(out, k)
			a.noFX = append(a.noFX, g)
			return nil
		})
	}
	if err := rd.wait(); err != nil {
		return nil, fmt.Errorf("report quality: %w", err)
	}

	keys := slices.SortedFunc(maps.Keys(out), func(a, b qKey) int {
		if (a.partner == "") != (b.partner == "") {
			if a.partner == "" {
				return 1 // the unattributed row last
			}
			return -1
		}
		return cmp.Or(strings.Compare(a.partner, b.partner), strings.Compare(a.country, b.country))
	})
	t := &Table{Report: "quality", Columns: append([]Column(nil), QualityColumns...), Rows: make([][]any, 0, len(keys))}
	for _, k := range keys {
		a := out[k]
		var p50, p99 any
		if a.rows > 0 && len(a.lag) == 2 {
			p50, p99 = qualitySeconds(a.lag[0]), qualitySeconds(a.lag[1])
		}
		t.Rows = append(t.Rows, []any{k.partner, k.country, a.hits, a.bots, ratio(float64(a.bots), float64(a.hits)),
			a.rejected, qualityReasons(a.byReason), a.duplicates, p50, p99, qualityFXGaps(a.noFX)})
	}
	t.Notes = append(t.Notes,
		"country is the partnership's; days in each country's own time zone",
		"rejected_by_reason lists rejected hits per reason",
		"ingest lag quantiles are exact up to 8,192 hits per row, sampled beyond",
		"missing_fx_rates lists, per currency and UTC day, the credited conversions with revenue but no ECB rate to the reporting currency, so no reporting amount: load the rates (xpromo fx load FILE) and run xpromo attribute for those days")
	if unattributed {
		t.Notes = append(t.Notes, "the row without partner and country is unattributed: rejected hits, hits and duplicates with no known partnership (days in UTC)")
	}
	return t, nil
}

// qualitySeconds rounds a lag to milliseconds.
func qualitySeconds(v float64) decimal.Decimal {
	return decimal.NewFromFloat(v).Round(3)
}

// qualityReasons is "reason n; reason n", reasons sorted.
func qualityReasons(m map[string]uint64) string {
	reasons := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = r + " " + strconv.FormatUint(m[r], 10)
	}
	return strings.Join(parts, "; ")
}
