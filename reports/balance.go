package reports

import (
	"context"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
)

// The balance report reads attributions, the latest computation of each
// conversion (FINAL; the WHERE filters apply after FINAL has kept the
// latest row, so a recomputation that moved a conversion to another
// partnership or outcome counts only where it now belongs).
//
// The period of a row is computed from its local date in the country's
// zone. The earlier period of a comparison is read with its dates moved
// onto the current period first (previous: by the period's length in days;
// year: by one year, so 29 February counts as 28 February), and then cut
// into the current periods: every earlier day lines up with exactly one
// current day, whatever the granularity.
const balSQL = `SELECT partnership, %s AS b,
  countIf(direction = 'inbound' AND outcome = 'new_user'),
  countIf(direction = 'outbound' AND outcome = 'new_user'),
  sumIf(revenue_rep, direction = 'inbound' AND outcome = 'credited'),
  sumIf(revenue_rep, direction = 'outbound' AND outcome = 'credited'),
  groupUniqArray(rep_currency)
FROM attributions FINAL
WHERE partnership IN (SELECT arrayJoin(?)) AND ts >= ? AND ts < ?
  AND outcome IN ('new_user', 'credited') AND direction IN ('inbound', 'outbound')
GROUP BY partnership, b`

// BalanceColumns are the columns of the balance report, before the
// comparison columns.
var BalanceColumns = []Column{
	{"period", KindDate}, {"partnership", KindText}, {"partner", KindText}, {"country", KindText},
	{"inbound_new_users", KindInt}, {"outbound_new_users", KindInt}, {"net_users", KindInt}, {"user_ratio", KindRatio},
	{"inbound_revenue", KindDecimal}, {"outbound_revenue", KindDecimal}, {"net_revenue", KindDecimal},
	{"inbound_target", KindDecimal}, {"outbound_target", KindDecimal}, {"behind", KindText},
}

// BalanceCompareColumns follow BalanceColumns when Params.Compare is set:
// every figure's earlier value and change (see compareColumns).
var BalanceCompareColumns = compareColumns(BalanceColumns)

type balKey struct {
	ps     string
	bucket time.Time // calendar day, UTC midnight; balTotal for Total
}

type balAgg struct {
	inUsers, outUsers uint64
	inRev, outRev     decimal.Decimal
}

func (a *balAgg) add(b *balAgg) {
	a.inUsers += b.inUsers
	a.outUsers += b.outUsers
	a.inRev = a.inRev.Add(b.inRev)
	a.outRev = a.outRev.Add(b.outRev)
}

func (a *balAgg) netUsers() int64 { return int64(a.inUsers) - int64(a.outUsers) }

func (a *balAgg) netRevenue() decimal.Decimal { return a.inRev.Sub(a.outRev) }

// balTotal is the one bucket of granularity Total (what bucketSQL gives).
var balTotal = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

// BalanceReport is the two-way balance of each partnership in scope, per
// period (p.Granularity, in the country's own time zone): what we received
// (inbound new users, inbound credited revenue) against what we gave
// (outbound new users, i.e. users the partner gained through our outbound
// clicks as its postbacks report them, and the revenue it reported for
// them), the net (received - given) and the ratio of users (received /
// given, nil when nothing was given). Revenue is credited revenue
// (purchases less refunds) in the reporting currency.
//
// Each row also carries the agreement's monthly user targets, scaled to
// the row's period, and `behind`, naming the side(s) whose new users are
// below the target ("inbound", "outbound", "both" or ""): see balTargets.
// A partnership appears for a period when it had activity in it or a
// target applies to it. With Compare, the earlier period's net users and
// net revenue and their change are added.
func BalanceReport(ctx context.Context, env *Env, p Params) (*Table, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	fromDay, toDay := balCalendarDay(p.From), balCalendarDay(p.To)
	cur, currencies, err := collectBalance(ctx, env, p, p.From, p.To, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("report balance: %w", err)
	}
	var prev map[balKey]*balAgg
	if p.Compare != "" {
		pf, pt := comparePeriod(p)
		addDays, addYears := 0, 0
		if p.Compare == CompareYear {
			addYears = 1
		} else {
			addDays = int(fromDay.Sub(balCalendarDay(pf)).Hours() / 24)
		}
		var earlierCur map[string]bool
		prev, earlierCur, err = collectBalance(ctx, env, p, pf, pt, addDays, addYears)
		if err != nil {
			return nil, fmt.Errorf("report balance: %w", err)
		}
		for c := range earlierCur {
			currencies[c] = true
		}
	}

	// Every (partnership, period) with activity or a target.
	keys := map[balKey]bool{}
	for k := range cur {
		keys[k] = true
	}
	for k := range prev {
		keys[k] = true
	}
	buckets := balBuckets(p.Granularity, fromDay, toDay)
	for _, list := range env.scopedPartnerships(p) {
		for _, ps := range list {
			for _, b := range buckets {
				lo, hi := balClip(p.Granularity, b, fromDay, toDay)
				in, out := balTargets(env.Catalog.Terms[ps.ID], lo, hi)
				if in != nil || out != nil {
					keys[balKey{ps.ID, b}] = true
				}
			}
		}
	}
	sorted := slices.SortedFunc(maps.Keys(keys), func(a, b balKey) int {
		return env.comparePeriodCountry(a.bucket, b.bucket, a.ps, b.ps)
	})

	t := &Table{Report: "balance", Columns: append([]Column(nil), BalanceColumns...), Rows: [][]any{}}
	t.Columns[0] = periodColumn(p)
	if p.Compare != "" {
		t.Columns = append(t.Columns, BalanceCompareColumns...)
	}
	for _, k := range sorted {
		a := cur[k]
		if a == nil {
			a = &balAgg{}
		}
		ps := env.Catalog.Partnerships[k.ps]
		lo, hi := balClip(p.Granularity, k.bucket, fromDay, toDay)
		row := balRow(periodCell(p, k.bucket), k.ps, ps, a, env.Catalog.Terms[k.ps], lo, hi)
		if p.Compare != "" {
			b := prev[k]
			if b == nil {
				b = &balAgg{}
			}
			// The earlier row's targets are those of the earlier days.
			elo, ehi := balEarlier(p.Compare, lo, hi, int(toDay.Sub(fromDay).Hours()/24)+1)
			row = compareRow(BalanceColumns, row, balRow(nil, k.ps, ps, b, env.Catalog.Terms[k.ps], elo, ehi))
		}
		t.Rows = append(t.Rows, row)
	}

	t.Notes = append(t.Notes, "new users are signups credited as new users; revenue is credited revenue (purchases less refunds); inbound is what partners sent us, outbound what we sent partners as their postbacks report it; net = inbound - outbound; user_ratio = inbound / outbound new users")
	if len(currencies) > 0 {
		list := make([]string, 0, len(currencies))
		for c := range currencies {
			list = append(list, c)
		}
		sort.Strings(list)
		if len(list) == 1 {
			t.Notes = append(t.Notes, "revenue is in "+list[0]+" at the ECB rate of each conversion's day")
		} else {
			t.Notes = append(t.Notes, "the reporting currency changed within the period ("+strings.Join(list, ", ")+"); revenue sums mix them")
		}
	}
	t.Notes = append(t.Notes, "targets are the monthly user targets of the terms version in force on the period's last day (within from-to), scaled to the period: each calendar month counts target x days covered / days in that month, covering only days within from-to and within the agreement's start and end dates, rounded to 2 decimals; blank when that version is not active, sets no target or has no such days; behind names the side(s) whose new users are below the target shown")
	t.notePeriods(p, "periods are days in each country's own time zone",
		"NAME_prev is each figure over the earlier period (targets: those of the earlier days), NAME_change (current - earlier) / |earlier|, blank when earlier is 0 or blank; earlier days line up day by day with the current ones (a year earlier: 29 February counts as 28 February)")
	return t, nil
}

// collectBalance runs the balance query for each time zone of the
// partnerships in scope, concurrently, over local days from-to; the days
// are moved by addDays and addYears before they are cut into periods.
func collectBalance(ctx context.Context, env *Env, p Params, from, to time.Time, addDays, addYears int) (map[balKey]*balAgg, map[string]bool, error) {
	groups := env.scopedPartnerships(p)
	out := map[balKey]*balAgg{}
	currencies := map[string]bool{}
	rd := newReads(ctx, env)
	for tz, list := range groups {
		ids := make([]string, len(list))
		for i, ps := range list {
			ids[i] = ps.ID
		}
		loc := env.zone(list[0].Country)
		a, b := bounds(from, to, loc)
		q := fmt.Sprintf(balSQL, balPeriodSQL(p.Granularity, tz, addDays, addYears))
		rd.read("attributions", q, []any{ids, a, b}, func(r driver.Rows) error {
			var (
				k    balKey
				agg  balAgg
				curs []string
			)
			if err := r.Scan(&k.ps, &k.bucket, &agg.inUsers, &agg.outUsers, &agg.inRev, &agg.outRev, &curs); err != nil {
				return err
			}
			k.bucket = balCalendarDay(k.bucket)
			if o := out[k]; o != nil {
				o.add(&agg)
			} else {
				out[k] = &agg
			}
			for _, c := range curs {
				if c != "" {
					currencies[c] = true
				}
			}
			return nil
		})
	}
	if err := rd.wait(); err != nil {
		return nil, nil, err
	}
	return out, currencies, nil
}

// balPeriodSQL is the period of a row's local date in zone tz (a valid zone
// name, see bucketSQL), the date first moved by addDays and addYears.
func balPeriodSQL(granularity, tz string, addDays, addYears int) string {
	d := "toDate(ts, '" + strings.ReplaceAll(tz, "'", "") + "')"
	if addDays != 0 {
		d = fmt.Sprintf("addDays(%s, %d)", d, addDays)
	}
	if addYears != 0 {
		d = fmt.Sprintf("addYears(%s, %d)", d, addYears)
	}
	switch granularity {
	case Day:
		return d
	case Week:
		return "toMonday(" + d + ")"
	case Month:
		return "toStartOfMonth(" + d + ")"
	}
	return "toDate('1970-01-01')"
}

// balCalendarDay is t's wall-clock day as a UTC midnight (a Date read from
// ClickHouse may come in the server's zone; From and To are calendar days
// whatever their zone).
func balCalendarDay(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// balBucketStart is the period holding calendar day d.
func balBucketStart(granularity string, d time.Time) time.Time {
	switch granularity {
	case Day:
		return d
	case Week:
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	case Month:
		return time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return balTotal
}

// balBuckets lists the periods of the calendar days from-to.
func balBuckets(granularity string, from, to time.Time) []time.Time {
	if granularity == Total {
		return []time.Time{balTotal}
	}
	var out []time.Time
	for b := balBucketStart(granularity, from); !b.After(to); {
		out = append(out, b)
		switch granularity {
		case Day:
			b = b.AddDate(0, 0, 1)
		case Week:
			b = b.AddDate(0, 0, 7)
		default:
			b = b.AddDate(0, 1, 0)
		}
	}
	return out
}

// balClip is the first and last day of period b within from-to.
func balClip(granularity string, b, from, to time.Time) (time.Time, time.Time) {
	var end time.Time
	switch granularity {
	case Day:
		end = b
	case Week:
		end = b.AddDate(0, 0, 6)
	case Month:
		end = b.AddDate(0, 1, -1)
	default:
		return from, to
	}
	if b.Before(from) {
		b = from
	}
	if end.After(to) {
		end = to
	}
	return b, end
}

// balTargets are the inbound and outbound user targets for the calendar
// days lo-hi: the monthly targets of the terms version in force on hi
// (catalog.TermsInForce), when that version is active, each calendar
// month counting target x days / days in the month, over the days lo-hi
// that are within the agreement's start and end dates. A whole month
// counts its monthly target; nil means no target (no version, not active,
// a zero target or no days).
func balTargets(versions []catalog.Terms, lo, hi time.Time) (in, out *big.Rat) {
	t, ok := catalog.TermsInForce(versions, hi)
	if !ok || t.Status != catalog.StatusActive {
		return nil, nil
	}
	if sd := balCalendarDay(t.StartDate); lo.Before(sd) {
		lo = sd
	}
	if !t.EndDate.IsZero() {
		if ed := balCalendarDay(t.EndDate); hi.After(ed) {
			hi = ed
		}
	}
	if hi.Before(lo) {
		return nil, nil
	}
	scale := func(monthly uint32) *big.Rat {
		if monthly == 0 {
			return nil
		}
		r := new(big.Rat)
		for m := time.Date(lo.Year(), lo.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(hi); m = m.AddDate(0, 1, 0) {
			last := m.AddDate(0, 1, -1)
			a, b := m, last
			if a.Before(lo) {
				a = lo
			}
			if b.After(hi) {
				b = hi
			}
			days := int64(b.Sub(a).Hours()/24) + 1
			dim := int64(last.Day())
			r.Add(r, big.NewRat(int64(monthly)*days, dim))
		}
		return r
	}
	return scale(t.TargetInboundUsersMonth), scale(t.TargetOutboundUsersMonth)
}

// balRound is a target as shown: rounded half up to 2 decimals.
func balRound(r *big.Rat) decimal.Decimal { return decimal.NewFromBigRat(r, 2) }

func balDec(r *big.Rat) any {
	if r == nil {
		return nil
	}
	return balRound(r)
}

// balBehind names the sides whose new users are below the target shown.
func balBehind(a *balAgg, in, out *big.Rat) string {
	inBehind := in != nil && decimal.NewFromUint64(a.inUsers).LessThan(balRound(in))
	outBehind := out != nil && decimal.NewFromUint64(a.outUsers).LessThan(balRound(out))
	switch {
	case inBehind && outBehind:
		return vocab.Both
	case inBehind:
		return vocab.Inbound
	case outBehind:
		return vocab.Outbound
	}
	return ""
}

// balRow is the row of BalanceColumns of partnership id (ps) with figures a and
// the targets of the calendar days lo-hi.
func balRow(period any, id string, ps catalog.Partnership, a *balAgg, terms []catalog.Terms, lo, hi time.Time) []any {
	inTarget, outTarget := balTargets(terms, lo, hi)
	return []any{period, id, ps.Partner, ps.Country,
		a.inUsers, a.outUsers, a.netUsers(), ratio(float64(a.inUsers), float64(a.outUsers)),
		a.inRev, a.outRev, a.netRevenue(),
		balDec(inTarget), balDec(outTarget), balBehind(a, inTarget, outTarget)}
}

// balEarlier is the first and last of the earlier days that line up with
// the current days lo-hi of a period of n days: n days before, or a year
// before, where an earlier 29 February counts as 28 February (so a
// current 29 February has no earlier day: lo-hi empty, hi before lo).
func balEarlier(compare string, lo, hi time.Time, n int) (time.Time, time.Time) {
	if compare != CompareYear {
		return lo.AddDate(0, 0, -n), hi.AddDate(0, 0, -n)
	}
	// time.Date normalizes 29 February of a common year to 1 March.
	elo := time.Date(lo.Year()-1, lo.Month(), lo.Day(), 0, 0, 0, 0, time.UTC)
	ehi := time.Date(hi.Year()-1, hi.Month(), hi.Day(), 0, 0, 0, 0, time.UTC)
	switch {
	case hi.Month() == time.February && hi.Day() == 29:
		ehi = ehi.AddDate(0, 0, -1) // 1 March back to 28 February
	case hi.Month() == time.February && hi.Day() == 28 && ehi.AddDate(0, 0, 1).Month() == time.February:
		ehi = ehi.AddDate(0, 0, 1) // the earlier 29 February counts as 28 February
	}
	return elo, ehi
}
