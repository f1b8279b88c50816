package reports

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
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
WHERE hour >= ? AND hour < ? AND partnership IN (SELECT arrayJoin(?)) AND %s
GROUP BY partnership, direction, b`
	psHitsRawSQL = `SELECT partnership, toString(direction), %s AS b,
  countIf(kind = 'view' AND (is_bot = 0 OR ? = 1)),
  countIf(kind = 'click' AND (is_bot = 0 OR ? = 1)),
  uniqIf(visitor, kind = 'click' AND (is_bot = 0 OR ? = 1))
FROM hits
WHERE ts >= ? AND ts < ? AND partnership IN (SELECT arrayJoin(?)) AND kind IN ('click', 'view') AND %s
GROUP BY partnership, direction, b`
	psConvSQL = `SELECT partnership, toString(direction), %s AS b,
  countIf(outcome = 'new_user'),
  countIf(outcome = 'returning_user'),
  countIf(type = 'purchase' AND outcome = 'credited'),
  countIf(type = 'refund' AND outcome = 'credited'),
  sumIf(revenue_rep, outcome = 'credited'),
  any(rep_currency)
FROM attributions FINAL
WHERE ts >= ? AND ts < ? AND partnership IN (SELECT arrayJoin(?)) AND %s
GROUP BY partnership, direction, b`
	psCurrencySQL = `SELECT partnership, toString(direction), %s AS b, currency, sum(revenue)
FROM attributions FINAL
WHERE ts >= ? AND ts < ? AND partnership IN (SELECT arrayJoin(?)) AND outcome = 'credited' AND currency != '' AND %s
GROUP BY partnership, direction, b, currency`
	// Credited revenue without a reporting amount (see noFXCondition),
	// per UTC day: the day whose rate is missing.
	psNoFXSQL = `SELECT partnership, toString(direction), %s AS b, currency, toDate(ts, 'UTC') AS d, count(), sum(revenue)
FROM attributions FINAL
WHERE ts >= ? AND ts < ? AND partnership IN (SELECT arrayJoin(?)) AND ` + noFXCondition + ` AND %s
GROUP BY partnership, direction, b, currency, d`
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
	noFX                            []fxGap // revenue without a reporting amount
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
// Compare, every figure for the earlier period and its change (see
// compareColumns).
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
	t.Columns[0] = periodColumn(p)
	if p.Compare != "" {
		t.Columns = append(t.Columns, compareColumns(PartnershipsColumns)...)
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
	slices.SortFunc(keys, func(a, b psKey) int {
		return cmp.Or(env.comparePeriodCountry(a.bucket, b.bucket, a.ps, b.ps), strings.Compare(a.dir, b.dir))
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
		ps := env.Catalog.Partnerships[k.ps]
		row := psRow(p, k, ps, a)
		if p.Compare != "" {
			b := prev[k]
			if b == nil {
				b = &psAgg{}
			}
			row = compareRow(PartnershipsColumns, row, psRow(p, k, ps, b))
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
	var gaps []fxGap // of both periods: their days tell them apart
	for _, m := range []map[psKey]*psAgg{cur, prev} {
		for _, a := range m {
			gaps = append(gaps, a.noFX...)
		}
	}
	if n := fxGapNote(gaps); n != "" {
		t.Notes = append([]string{n}, t.Notes...) // first: it qualifies the figures
	}
	t.notePeriods(p, "periods are days in each country's own time zone",
		"NAME_prev is each figure over the earlier period, NAME_change (current - earlier) / |earlier|, blank when earlier is 0 or blank")
	return t, nil
}

// psRow is the row of PartnershipsColumns for key k with figures a.
func psRow(p Params, k psKey, ps catalog.Partnership, a *psAgg) []any {
	var perUser any
	if a.newUsers > 0 {
		perUser = a.revenue.Div(decimal.NewFromInt(int64(a.newUsers))).RoundBank(2)
	}
	return []any{periodCell(p, k.bucket), k.ps, ps.Partner, ps.Country, k.dir,
		a.views, a.clicks, a.visitors, ratio(float64(a.clicks), float64(a.views)),
		a.newUsers, a.returning, a.newUsers + a.returning, a.purch, a.ref,
		a.revenue, currencies(a.byCurrency),
		ratio(float64(a.newUsers), float64(a.clicks)), perUser}
}

func currencies(m map[string]decimal.Decimal) string {
	if len(m) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(m))
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

// collectPartnerships reads the figures of every partnership in scope
// with one query per source, whatever the number of time zones: each
// row's local day is its UTC time plus its partnership's zone offset at
// that time (see zoneTable). Hits of partnerships in zones that are not a
// whole number of hours from UTC are read from hits (the hourly rollup
// cannot split their days), the others from the rollup.
func collectPartnerships(ctx context.Context, env *Env, p Params, from, to time.Time) (map[psKey]*psAgg, error) {
	var all []catalog.Partnership
	for _, list := range env.scopedPartnerships(p) {
		all = append(all, list...)
	}
	out := map[psKey]*psAgg{}
	if len(all) == 0 {
		return out, nil
	}
	zt := newZoneTable(env, all, from, to)
	bots := uint8(0)
	if p.IncludeBots {
		bots = 1
	}
	// scanKey reads a row's partnership, direction and period, then dest.
	scanKey := func(r driver.Rows, dest ...any) (psKey, error) {
		var k psKey
		err := r.Scan(append([]any{&k.ps, &k.dir, &k.bucket}, dest...)...)
		k.bucket = k.bucket.UTC()
		return k, err
	}
	hitsScan := func(r driver.Rows) error {
		var views, clicks, uv uint64
		k, err := scanKey(r, &views, &clicks, &uv)
		if err != nil || views+clicks == 0 {
			return err
		}
		a := entry(out, k)
		a.views, a.clicks, a.visitors = views, clicks, uv
		return nil
	}
	// read fills a template and starts the query: the period in SELECT,
	// the local-day filter in WHERE (each zone's own From..To), in the
	// order of their arguments.
	rd := newReads(ctx, env)
	read := func(op, tmpl, col string, ids []string, scan func(driver.Rows) error, mid ...any) {
		bucket, bargs := zt.bucket(p.Granularity, col, true)
		within, wargs := zt.within(col, p.Granularity == Total)
		args := append(append(bargs, mid...), zt.from, zt.to, ids)
		rd.read(op, fmt.Sprintf(tmpl, bucket, within), append(args, wargs...), scan)
	}
	if len(zt.hourly) > 0 {
		read("hits", psHitsRollupSQL, "hour", zt.hourly, hitsScan, bots, bots, bots)
	}
	if len(zt.other) > 0 {
		read("hits", psHitsRawSQL, "ts", zt.other, hitsScan, bots, bots, bots)
	}
	ids := append(append([]string{}, zt.hourly...), zt.other...)
	read("attributions", psConvSQL, "ts", ids, func(r driver.Rows) error {
		var nu, ret, purch, ref uint64
		var rev decimal.Decimal
		var repCur string
		k, err := scanKey(r, &nu, &ret, &purch, &ref, &rev, &repCur)
		if err != nil || nu+ret+purch+ref == 0 && rev.IsZero() {
			return err
		}
		a := entry(out, k)
		a.newUsers, a.returning, a.purch, a.ref, a.revenue, a.repCurrency = nu, ret, purch, ref, rev, repCur
		return nil
	})
	read("revenue by currency", psCurrencySQL, "ts", ids, func(r driver.Rows) error {
		var cur string
		var sum decimal.Decimal
		k, err := scanKey(r, &cur, &sum)
		if err != nil {
			return err
		}
		a := entry(out, k)
		if a.byCurrency == nil {
			a.byCurrency = map[string]decimal.Decimal{}
		}
		a.byCurrency[cur] = sum
		return nil
	})
	read("missing fx rates", psNoFXSQL, "ts", ids, func(r driver.Rows) error {
		var g fxGap
		var d time.Time
		k, err := scanKey(r, &g.cur, &d, &g.n, &g.amount)
		if err != nil {
			return err
		}
		g.ps, g.dir, g.day = k.ps, k.dir, utcDay(d)
		a := entry(out, k)
		a.noFX = append(a.noFX, g)
		return nil
	})
	if err := rd.wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// zoneTable maps each partnership to its country's zone, with the
// period split at every instant a zone's offset changes (daylight saving),
// so that one query can put every row in its local day: within a segment
// each zone's offset is a constant.
type zoneTable struct {
	from, to      time.Time // UTC bounds: the earliest local midnight to the latest
	hourly, other []string  // partnerships in whole-hour zones, and the rest
	ids           []string
	idx           []uint32  // 1-based zone index of ids[i]
	changes       []uint32  // instants (unix seconds) where some zone's offset changes
	zoneFrom      []uint32  // per zone index - 1: local midnight of From, unix seconds
	zoneTo        []uint32  // per zone index - 1: local midnight after To, unix seconds
	offsets       [][]int32 // per segment (before changes[0], ..., after the last): offset per zone index - 1
}

func newZoneTable(env *Env, pss []catalog.Partnership, from, to time.Time) *zoneTable {
	zt := &zoneTable{}
	zoneIdx := map[string]uint32{}
	var locs []*time.Location
	for _, ps := range pss {
		loc := env.zone(ps.Country)
		i, ok := zoneIdx[loc.String()]
		if !ok {
			locs = append(locs, loc)
			i = uint32(len(locs))
			zoneIdx[loc.String()] = i
		}
		zt.ids, zt.idx = append(zt.ids, ps.ID), append(zt.idx, i)
	}
	for i, loc := range locs {
		a, b := bounds(from, to, loc)
		zt.zoneFrom, zt.zoneTo = append(zt.zoneFrom, uint32(a.Unix())), append(zt.zoneTo, uint32(b.Unix()))
		if i == 0 || a.Before(zt.from) {
			zt.from = a
		}
		if i == 0 || b.After(zt.to) {
			zt.to = b
		}
	}
	whole := make([]bool, len(locs)+1)
	seen := map[uint32]bool{}
	for i, loc := range locs {
		_, off := zt.from.In(loc).Zone()
		whole[i+1] = off%3600 == 0
		// Offsets change on quarter hours at the finest: a 15-minute scan
		// finds every change exactly.
		for t := zt.from.Add(15 * time.Minute); !t.After(zt.to); t = t.Add(15 * time.Minute) {
			_, o := t.In(loc).Zone()
			if o != off {
				if u := uint32(t.Unix()); !seen[u] {
					seen[u] = true
					zt.changes = append(zt.changes, u)
				}
				off = o
			}
			if o%3600 != 0 {
				whole[i+1] = false
			}
		}
	}
	sort.Slice(zt.changes, func(i, j int) bool { return zt.changes[i] < zt.changes[j] })
	starts := append([]time.Time{zt.from}, make([]time.Time, len(zt.changes))...)
	for i, c := range zt.changes {
		starts[i+1] = time.Unix(int64(c), 0)
	}
	for _, st := range starts {
		seg := make([]int32, len(locs))
		for i, loc := range locs {
			_, o := st.In(loc).Zone()
			seg[i] = int32(o)
		}
		zt.offsets = append(zt.offsets, seg)
	}
	for i, id := range zt.ids {
		if whole[zt.idx[i]] {
			zt.hourly = append(zt.hourly, id)
		} else {
			zt.other = append(zt.other, id)
		}
	}
	return zt
}

// within returns the SQL condition that col is inside the period of its
// partnership's zone (local midnight of From to local midnight after To):
// two array lookups per row, where a local-day comparison would need the
// offset of every DST segment.
func (zt *zoneTable) within(col string, define bool) (string, []any) {
	// Arguments bind in the order their ? appear in the text.
	if define {
		return "toUInt32(" + col + ") >= arrayElement(?, (transform(partnership, ?, ?, toUInt32(0)) AS zi)) AND toUInt32(" + col + ") < arrayElement(?, zi)",
			[]any{zt.zoneFrom, zt.ids, zt.idx, zt.zoneTo}
	}
	return "toUInt32(" + col + ") >= arrayElement(?, zi) AND toUInt32(" + col + ") < arrayElement(?, zi)", []any{zt.zoneFrom, zt.zoneTo}
}

// bucket returns the SQL of a row's period for the DateTime column col,
// with the arguments it binds (before the query's own). The partnership's
// zone index is computed once per query: the first expression that needs
// it defines the alias zi (define true) and binds the partnership list,
// later ones only name it, which keeps the query far below max_query_size
// however many partnerships it covers.
func (zt *zoneTable) bucket(granularity, col string, define bool) (string, []any) {
	if granularity == Total {
		return "toDate('1970-01-01')", nil
	}
	args := []any{}
	zi := func() string {
		if define {
			define = false
			args = append(args, zt.ids, zt.idx)
			return "(transform(partnership, ?, ?, toUInt32(0)) AS zi)"
		}
		return "zi"
	}
	off := ""
	for i, seg := range zt.offsets {
		if i < len(zt.offsets)-1 {
			off += "if(toUInt32(" + col + ") < ?, "
			args = append(args, zt.changes[i])
		}
		off += "arrayElement(?, "
		args = append(args, seg)
		off += zi() + ")"
		if i < len(zt.offsets)-1 {
			off += ", "
		}
	}
	off += strings.Repeat(")", len(zt.offsets)-1)
	local := "toDate(" + col + " + " + off + ", 'UTC')"
	switch granularity {
	case Week:
		return "toMonday(" + local + ")", args
	case Month:
		return "toStartOfMonth(" + local + ")", args
	}
	return local, args
}
