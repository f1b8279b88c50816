package reports

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
)

// Breakdown dimensions: what BreakdownReport splits one partnership by.
const (
	ByLink     = "link"     // the link code
	ByCampaign = "campaign" // the link's campaign as recorded on the hit ("" none)
	ByDevice   = "device"   // other, desktop, mobile, tablet, bot
	ByReferrer = "referrer" // the referring host ("" none or not sent)
	BySubID    = "sub"      // the partner's sub-id of the click (/r/{code}?sub=...; "" none)
	ByDay      = "day"      // the day in the partnership country's time zone
)

// BreakdownDimensions are the values BreakdownReport accepts for by.
var BreakdownDimensions = []string{ByLink, ByCampaign, BySubID, ByDevice, ByReferrer, ByDay}

// ErrNoPartnership means a breakdown did not name exactly one partnership
// in the reader's scope. A partnership that exists but is out of scope is
// reported the same way as one that does not exist (404), so a reader
// learns nothing about other partners' ids. When none or several were
// named, the error is also a *ParamError (400).
var ErrNoPartnership = errors.New("no such partnership")

// BreakdownColumns are the columns after the first (the value of the
// dimension, named after it: link, campaign, sub, device, referrer or day).
var BreakdownColumns = []Column{
	{"views", KindInt}, {"clicks", KindInt}, {"unique_visitors", KindInt}, {"ctr", KindRatio},
	{"new_users", KindInt}, {"revenue", KindDecimal},
}

// The breakdown reads raw hits of the one partnership (the ts range prunes
// partitions); a dimension expression comes from bdDimensionSQL, never
// from a request.
const (
	bdHitsSQL = `SELECT %s AS v,
  countIf(kind = 'view' AND (is_bot = 0 OR ? = 1)),
  countIf(kind = 'click' AND (is_bot = 0 OR ? = 1)),
  uniqIf(visitor, kind = 'click' AND (is_bot = 0 OR ? = 1))
FROM hits
WHERE partnership = ? AND ts >= ? AND ts < ? AND kind IN ('click', 'view')
GROUP BY v`
	// Conversions of the period's clicks, whenever they happened: an
	// attributed conversion is never before its click, so ts >= the
	// period's start loses none and prunes older partitions. ALL: a click
	// may earn several conversions (a signup, then purchases).
	bdConvSQL = `SELECT v,
  countIf(outcome = 'new_user'),
  sumIf(revenue_rep, outcome = 'credited'),
  any(rep_currency)
FROM (
  SELECT id AS click, %s AS v
  FROM hits
  WHERE partnership = ? AND ts >= ? AND ts < ? AND kind = 'click'
)
ALL INNER JOIN (
  SELECT click, outcome, revenue_rep, rep_currency
  FROM attributions FINAL
  WHERE partnership = ? AND ts >= ? AND click != ''
) USING click
GROUP BY v`
)

// bdDimensionSQL is the hits expression of dimension by (tz a valid zone
// name from time.LoadLocation, not from a request), false when by is
// unknown.
func bdDimensionSQL(by, tz string) (string, bool) {
	switch by {
	case ByLink:
		return "link", true
	case ByCampaign:
		return "campaign", true
	case ByDevice:
		return "toString(device)", true
	case ByReferrer:
		return "referrer_host", true
	case BySubID:
		return "sub_id", true
	case ByDay:
		return bucketSQL(Day, "ts", tz), true
	}
	return "", false
}

type bdAgg struct {
	views, clicks, visitors, newUsers uint64
	revenue                           decimal.Decimal
}

// BreakdownReport splits one partnership's traffic and results by a
// dimension (one of BreakdownDimensions) over the period p.From..p.To,
// days in the time zone of the partnership's country. p.Partnerships must
// name exactly one partnership in the scope p gives (its countries and
// partner); otherwise the error wraps ErrNoPartnership. An unknown by is
// a *ParamError; p.Validate errors are returned as they are.
//
// Per value: views and clicks (bots left out unless IncludeBots), unique
// visitors among those clicks (ClickHouse uniq: exact at these sizes,
// about 1% off beyond 65,536), CTR (clicks / views, nil without views),
// and, from attributions (the latest computation of each conversion),
// the new users and the credited revenue in the reporting currency that
// the value's clicks in the period earned. That is a cohort of clicks:
// their conversions count whenever they happened, also after the period,
// so the figures of a recent period still grow. Bot clicks never earn
// conversions (the attribution engine skips them), so IncludeBots does
// not change new_users or revenue.
//
// Rows are sorted by clicks, most first, then by value; by day, by day.
// A value with neither counted views nor clicks nor conversions has no
// row. Granularity and Compare are not used.
//
// The sub dimension is the sub= label a partner put on the tracking link
// (/r/{code}?sub=...), recorded with each click.
func BreakdownReport(ctx context.Context, env *Env, p Params, by string) (*Table, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if _, ok := bdDimensionSQL(by, "UTC"); !ok {
		return nil, &ParamError{Reason: fmt.Sprintf("by %q: want one of %s", by, strings.Join(BreakdownDimensions, ", "))}
	}
	if len(p.Partnerships) != 1 {
		return nil, fmt.Errorf("%w: %w", &ParamError{Reason: "the breakdown needs exactly one partnership"}, ErrNoPartnership)
	}
	var ps catalog.Partnership
	found := false
	for _, list := range env.scopedPartnerships(p) {
		for _, cand := range list {
			if cand.ID == p.Partnerships[0] {
				ps, found = cand, true
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("breakdown: partnership %q: %w", p.Partnerships[0], ErrNoPartnership)
	}
	loc := env.zone(ps.Country)
	tz := loc.String()
	dim, _ := bdDimensionSQL(by, tz)
	from, to := bounds(p.From, p.To, loc)
	bots := uint8(0)
	if p.IncludeBots {
		bots = 1
	}

	out := map[any]*bdAgg{}
	repCurrency := ""
	// scanValue reads the dimension's value: a Date for day (kept as the
	// UTC midnight of that date), a string otherwise.
	scanValue := func() any {
		if by == ByDay {
			return &time.Time{}
		}
		return new(string)
	}
	valueOf := func(ptr any) any {
		switch x := ptr.(type) {
		case *time.Time:
			return time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC)
		case *string:
			return *x
		}
		return nil
	}
	rd := newReads(ctx, env)
	rd.read("hits", fmt.Sprintf(bdHitsSQL, dim), []any{bots, bots, bots, ps.ID, from, to}, func(r driver.Rows) error {
		ptr := scanValue()
		var views, clicks, uv uint64
		if err := r.Scan(ptr, &views, &clicks, &uv); err != nil {
			return err
		}
		if views+clicks == 0 {
			return nil
		}
		a := entry(out, valueOf(ptr))
		a.views, a.clicks, a.visitors = views, clicks, uv
		return nil
	})
	rd.read("attributions", fmt.Sprintf(bdConvSQL, dim), []any{ps.ID, from, to, ps.ID, from}, func(r driver.Rows) error {
		ptr := scanValue()
		var nu uint64
		var rev decimal.Decimal
		var cur string
		if err := r.Scan(ptr, &nu, &rev, &cur); err != nil {
			return err
		}
		if nu == 0 && rev.IsZero() {
			return nil
		}
		a := entry(out, valueOf(ptr))
		a.newUsers, a.revenue = nu, rev
		if cur != "" {
			repCurrency = cur
		}
		return nil
	})
	if err := rd.wait(); err != nil {
		return nil, fmt.Errorf("report breakdown: %w", err)
	}

	keys := make([]any, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if by == ByDay {
			return keys[i].(time.Time).Before(keys[j].(time.Time))
		}
		a, b := out[keys[i]], out[keys[j]]
		if a.clicks != b.clicks {
			return a.clicks > b.clicks
		}
		return keys[i].(string) < keys[j].(string)
	})
	kind := KindText
	if by == ByDay {
		kind = KindDate
	}
	t := &Table{
		Report:  "breakdown",
		Columns: append([]Column{{by, kind}}, BreakdownColumns...),
		Rows:    make([][]any, 0, len(keys)),
	}
	for _, k := range keys {
		a := out[k]
		t.Rows = append(t.Rows, []any{k, a.views, a.clicks, a.visitors,
			ratio(float64(a.clicks), float64(a.views)), a.newUsers, a.revenue})
	}
	t.Notes = append(t.Notes,
		fmt.Sprintf("partnership %s (partner %s, %s) by %s; days in %s", ps.ID, ps.Partner, ps.Country, by, tz),
		"new_users and revenue are the conversions the period's clicks earned, whenever they happened; they can still grow",
		"unique_visitors is approximate beyond 65,536 per value (ClickHouse uniq, error about 1%); users and revenue are exact")
	if repCurrency != "" {
		t.Notes = append(t.Notes, "revenue is in "+repCurrency+" at the ECB rate of each conversion's day")
	}
	return t, nil
}
