package reports

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

// The partnerships report reads hits from the hourly rollup (hits_hourly)
// when the country's zone is a whole number of hours from UTC over the
// period, and from hits otherwise (half-hour zones such as Asia/Kolkata);
// conversions from attributions, the latest computation of each.
const (
	psHitsRollupSQL = `SELECT partnership, toString(direction), %s AS b,
  countMergeIf(hits, kind = 'view' AND (is_bot = 0 OR ? = 1)),
  countMergeIf(hits, kind = 'click' AND (is_bot = 0 OR ? = 1)),
  uniqMergeIf(visitors, kind = 'click' AND (is_bot = 0 OR ? = 1))
FROM hits_hourly
WHERE partnership IN (SELECT arrayJoin(?)) AND hour >= ? AND hour < ?
GROUP BY partnership, direction, b`
	psHitsRawSQL = `SELECT partnership, toString(direction), %s AS b,
  countIf(kind = 'view' AND (is_bot = 0 OR ? = 1)),
  countIf(kind = 'click' AND (is_bot = 0 OR ? = 1)),
  uniqIf(visitor, kind = 'click' AND (is_bot = 0 OR ? = 1))
FROM hits
WHERE partnership IN (SELECT arrayJoin(?)) AND ts >= ? AND ts < ? AND kind IN ('click', 'view')
GROUP BY partnership, direction, b`
	psConvSQL = `SELECT partnership, toString(direction), %s AS b,
  countIf(outcome = 'new_user'),
  countIf(outcome = 'returning_user'),
  countIf(type = 'purchase' AND outcome = 'credited'),
  countIf(type = 'refund' AND outcome = 'credited'),
  sumIf(revenue_rep, outcome = 'credited'),
  any(rep_currency)
FROM attributions FINAL
WHERE partnership IN (SELECT arrayJoin(?)) AND ts >= ? AND ts < ?
GROUP BY partnership, direction, b`
	psCurrencySQL = `SELECT partnership, toString(direction), %s AS b, currency, sum(revenue)
FROM attributions FINAL
WHERE partnership IN (SELECT arrayJoin(?)) AND ts >= ? AND ts < ? AND outcome = 'credited' AND currency != ''
GROUP BY partnership, direction, b, currency`
)

type psKey struct {
	ps, dir string
	bucket  time.Time
}

type psAgg struct {
	views, clicks, visitors         uint64
	newUsers, returning, purch, ref uint64
	revenue                         decimal.Decimal
	repCurrency                     string
	byCurrency                      map[string]decimal.Decimal
}

// PartnershipsColumns are the columns of the partnerships report, before
// the comparison columns.
var PartnershipsColumns = []Column{
	{"period", KindDate}, {"partnership", KindText}, {"partner", KindText}, {"country", KindText}, {"direction", KindText},
	{"views", KindInt}, {"clicks", KindInt}, {"unique_visitors", KindInt}, {"ctr", KindRatio},
	{"new_users", KindInt}, {"returning_users", KindInt}, {"signups", KindInt}, {"purchases", KindInt}, {"refunds", KindInt},
	{"revenue", KindDecimal}, {"revenue_by_currency", KindText},
	{"click_to_signup", KindRatio}, {"revenue_per_new_user", KindDecimal},
}

// Partnerships is the report per partnership, its country, direction and
// period: views, clicks (bots left out unless IncludeBots), unique
// visitors, new and returning users, conversions by type, revenue in the
// reporting currency and per original currency, and the rates; with
// Compare, the same clicks, new users and revenue for the earlier period
// and the change.
func PartnershipsReport(ctx context.Context, env *Env, p Params) (*Table, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	cur, err := collectPartnerships(ctx, env, p, p.From, p.To)
	if err != nil {
		return nil, fmt.Errorf("report partnerships: %w", err)
	}
	var prev map[psKey]*psAgg
	if p.Compare != "" {
		pf, pt := comparePeriod(p)
		earlier, err := collectPartnerships(ctx, env, p, pf, pt)
		if err != nil {
			return nil, fmt.Errorf("report partnerships: %w", err)
		}
		// Earlier buckets line up with the current ones they compare to.
		prev = map[psKey]*psAgg{}
		for k, v := range earlier {
			k.bucket = shiftBucket(k.bucket, p, pf)
			prev[k] = v
		}
	}
	t := &Table{Report: "partnerships", Columns: append([]Column(nil), PartnershipsColumns...)}
	if p.Compare != "" {
		t.Columns = append(t.Columns, Column{"clicks_prev", KindInt}, Column{"clicks_change", KindRatio},
			Column{"new_users_prev", KindInt}, Column{"new_users_change", KindRatio},
			Column{"revenue_prev", KindDecimal}, Column{"revenue_change", KindRatio})
	}
	keys := make([]psKey, 0, len(cur))
	for k := range cur {
		keys = append(keys, k)
	}
	for k := range prev {
		if _, ok := cur[k]; !ok {
			keys = append(keys, k) // activity only in the earlier period
		}
	}
	cat := env.Catalog
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if !a.bucket.Equal(b.bucket) {
			return a.bucket.Before(b.bucket)
		}
		ca, cb := cat.Partnerships[a.ps].Country, cat.Partnerships[b.ps].Country
		if ca != cb {
			return ca < cb
		}
		if a.ps != b.ps {
			return a.ps < b.ps
		}
		return a.dir < b.dir
	})
	repCurrency := ""
	for _, k := range keys {
		a := cur[k]
		if a == nil {
			a = &psAgg{}
		}
		if a.repCurrency != "" {
			repCurrency = a.repCurrency
		}
		ps := cat.Partnerships[k.ps]
		var period any = k.bucket
		if p.Granularity == Total {
			period = nil
		}
		var perUser any
		if a.newUsers > 0 {
			perUser = a.revenue.Div(decimal.NewFromInt(int64(a.newUsers)))
		}
		row := []any{period, k.ps, ps.Partner, ps.Country, k.dir,
			a.views, a.clicks, a.visitors, ratio(float64(a.clicks), float64(a.views)),
			a.newUsers, a.returning, a.newUsers + a.returning, a.purch, a.ref,
			a.revenue, currencies(a.byCurrency),
			ratio(float64(a.newUsers), float64(a.clicks)), perUser}
		if p.Compare != "" {
			b := prev[k]
			if b == nil {
				b = &psAgg{}
			}
			row = append(row, b.clicks, change(float64(a.clicks), float64(b.clicks)),
				b.newUsers, change(float64(a.newUsers), float64(b.newUsers)),
				b.revenue, change(a.revenue.InexactFloat64(), b.revenue.InexactFloat64()))
		}
		t.Rows = append(t.Rows, row)
	}
	if t.Rows == nil {
		t.Rows = [][]any{}
	}
	t.Notes = append(t.Notes, "unique_visitors is approximate beyond 65,536 per partnership and hour (ClickHouse uniq, error about 1%); users, conversions and revenue are exact")
	if repCurrency != "" {
		t.Notes = append(t.Notes, "revenue is in "+repCurrency+" at the ECB rate of each conversion's day")
	}
	if p.Granularity != Total {
		t.Notes = append(t.Notes, "periods are days in each country's own time zone")
	}
	return t, nil
}

// change is (a-b)/b, nil when b is zero.
func change(a, b float64) any {
	if b == 0 {
		return nil
	}
	return (a - b) / b
}

func currencies(m map[string]decimal.Decimal) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + m[k].StringFixed(2)
	}
	return strings.Join(parts, "; ")
}

// shiftBucket maps a bucket of the earlier period onto the bucket of the
// current period it compares with.
func shiftBucket(b time.Time, p Params, earlierFrom time.Time) time.Time {
	if p.Granularity == Total {
		return b
	}
	var s time.Time
	if p.Compare == CompareYear {
		s = b.AddDate(1, 0, 0)
	} else {
		s = b.Add(p.From.Sub(earlierFrom))
	}
	switch p.Granularity {
	case Week:
		for s.Weekday() != time.Monday {
			s = s.AddDate(0, 0, -1)
		}
	case Month:
		s = time.Date(s.Year(), s.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return s
}

// collectPartnerships runs the queries for each time zone of the
// partnerships in scope, concurrently.
func collectPartnerships(ctx context.Context, env *Env, p Params, from, to time.Time) (map[psKey]*psAgg, error) {
	groups := env.scopedPartnerships(p)
	out := map[psKey]*psAgg{}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	bots := uint8(0)
	if p.IncludeBots {
		bots = 1
	}
	for tz, list := range groups {
		ids := make([]string, len(list))
		for i, ps := range list {
			ids[i] = ps.ID
		}
		loc, _ := time.LoadLocation(tz)
		a, b := bounds(from, to, loc)
		wg.Go(func() {
			part, err := collectZone(ctx, env, p.Granularity, tz, loc, ids, a, b, bots)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			for k, v := range part {
				out[k] = v
			}
		})
	}
	wg.Wait()
	return out, firstErr
}

func collectZone(ctx context.Context, env *Env, gran, tz string, loc *time.Location, ids []string, from, to time.Time, bots uint8) (map[psKey]*psAgg, error) {
	out := map[psKey]*psAgg{}
	get := func(k psKey) *psAgg {
		a := out[k]
		if a == nil {
			a = &psAgg{}
			out[k] = a
		}
		return a
	}
	hitsSQL := fmt.Sprintf(psHitsRollupSQL, bucketSQL(gran, "hour", tz))
	if !wholeHours(loc, from, to) {
		hitsSQL = fmt.Sprintf(psHitsRawSQL, bucketSQL(gran, "ts", tz))
	}
	rows, err := env.Conn.Query(ctx, hitsSQL, bots, bots, bots, ids, from, to)
	if err != nil {
		return nil, fmt.Errorf("hits: %w", err)
	}
	for rows.Next() {
		var k psKey
		var views, clicks, uv uint64
		if err := rows.Scan(&k.ps, &k.dir, &k.bucket, &views, &clicks, &uv); err != nil {
			rows.Close()
			return nil, fmt.Errorf("hits: %w", err)
		}
		if views+clicks == 0 {
			continue
		}
		k.bucket = k.bucket.UTC()
		a := get(k)
		a.views, a.clicks, a.visitors = views, clicks, uv
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hits: %w", err)
	}
	rows, err = env.Conn.Query(ctx, fmt.Sprintf(psConvSQL, bucketSQL(gran, "ts", tz)), ids, from, to)
	if err != nil {
		return nil, fmt.Errorf("attributions: %w", err)
	}
	for rows.Next() {
		var k psKey
		var nu, ret, purch, ref uint64
		var rev decimal.Decimal
		var repCur string
		if err := rows.Scan(&k.ps, &k.dir, &k.bucket, &nu, &ret, &purch, &ref, &rev, &repCur); err != nil {
			rows.Close()
			return nil, fmt.Errorf("attributions: %w", err)
		}
		if nu+ret+purch+ref == 0 && rev.IsZero() {
			continue
		}
		k.bucket = k.bucket.UTC()
		a := get(k)
		a.newUsers, a.returning, a.purch, a.ref, a.revenue, a.repCurrency = nu, ret, purch, ref, rev, repCur
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attributions: %w", err)
	}
	rows, err = env.Conn.Query(ctx, fmt.Sprintf(psCurrencySQL, bucketSQL(gran, "ts", tz)), ids, from, to)
	if err != nil {
		return nil, fmt.Errorf("revenue by currency: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k psKey
		var cur string
		var sum decimal.Decimal
		if err := rows.Scan(&k.ps, &k.dir, &k.bucket, &cur, &sum); err != nil {
			return nil, fmt.Errorf("revenue by currency: %w", err)
		}
		k.bucket = k.bucket.UTC()
		a := get(k)
		if a.byCurrency == nil {
			a.byCurrency = map[string]decimal.Decimal{}
		}
		a.byCurrency[cur] = sum
	}
	return out, rows.Err()
}
