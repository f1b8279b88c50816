package statements

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/domain/vocab"
)

// convSQL reads a month's attributions, the latest computation of each
// (FINAL; 18.16 applies WHERE after FINAL, and current servers do not move
// conditions to PREWHERE under FINAL), summed per partnership, direction,
// terms version, UTC day (the day whose ECB rate converts the revenue) and
// currency. Revenue is signed: refunds are negative.
const convSQL = `SELECT partnership, toString(direction), terms_version, toDate(ts, 'UTC') AS d, currency,
  countIf(outcome = 'new_user'),
  countIf(outcome = 'credited' AND type IN ('purchase', 'refund')),
  sumIf(revenue, outcome = 'credited' AND type IN ('purchase', 'refund'))
FROM attributions FINAL
WHERE ts >= ? AND ts < ? AND partnership IN (SELECT arrayJoin(?))
  AND direction IN ('inbound', 'outbound') AND outcome IN ('new_user', 'credited')
GROUP BY partnership, direction, terms_version, d, currency`

type groupKey struct {
	partnership, direction string
	version                uint32
}

type dayCur struct {
	day time.Time
	cur string
}

type group struct {
	newUsers int64
	credited int64
	revenue  map[dayCur]decimal.Decimal
}

// computeLines computes period's regular lines from the attributions now
// stored, for the catalog's partnerships, each month taken in the
// partnership country's time zone.
func computeLines(ctx context.Context, src Source, period string) ([]Line, error) {
	y, m, err := parsePeriod(period)
	if err != nil {
		return nil, err
	}
	byZone := map[string][]string{}
	zones := map[string]*time.Location{}
	for _, ps := range src.Catalog.Partnerships {
		z := src.zone(ps.Country)
		byZone[z.String()] = append(byZone[z.String()], ps.ID)
		zones[z.String()] = z
	}
	names := make([]string, 0, len(byZone))
	for n := range byZone {
		names = append(names, n)
	}
	sort.Strings(names)
	groups := map[groupKey]*group{}
	for _, n := range names {
		ids := byZone[n]
		sort.Strings(ids)
		from := time.Date(y, m, 1, 0, 0, 0, 0, zones[n]).UTC()
		to := time.Date(y, m+1, 1, 0, 0, 0, 0, zones[n]).UTC()
		if err := readGroups(ctx, src, from, to, ids, groups); err != nil {
			return nil, err
		}
	}
	return linesOf(ctx, src, groups)
}

func readGroups(ctx context.Context, src Source, from, to time.Time, ids []string, groups map[groupKey]*group) error {
	rows, err := src.Conn.Query(ctx, convSQL, from, to, ids)
	if err != nil {
		return fmt.Errorf("read attributions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k                  groupKey
			d                  time.Time
			cur                string
			newUsers, credited uint64
			rev                decimal.Decimal
		)
		if err := rows.Scan(&k.partnership, &k.direction, &k.version, &d, &cur, &newUsers, &credited, &rev); err != nil {
			return fmt.Errorf("read attributions: %w", err)
		}
		g := groups[k]
		if g == nil {
			g = &group{revenue: map[dayCur]decimal.Decimal{}}
			groups[k] = g
		}
		g.newUsers += int64(newUsers)
		g.credited += int64(credited)
		if credited > 0 {
			y, mo, dd := d.Date() // the Date's calendar day, whatever zone it came in
			dc := dayCur{time.Date(y, mo, dd, 0, 0, 0, 0, time.UTC), strings.ToUpper(cur)}
			g.revenue[dc] = g.revenue[dc].Add(rev)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read attributions: %w", err)
	}
	return nil
}

// termsVersion finds a partnership's terms version in the catalog.
func termsVersion(snap *catalog.Snapshot, ps string, v uint32) (catalog.Terms, bool) {
	for _, t := range snap.Terms[ps] {
		if t.Version == v {
			return t, true
		}
	}
	return catalog.Terms{}, false
}

type rateUsed struct {
	from, to, rate string
	date           time.Time
}

// linesOf turns the groups into rounded lines under their terms.
func linesOf(ctx context.Context, src Source, groups map[groupKey]*group) ([]Line, error) {
	// The rate table is read once, for the days of every conversion whose
	// currency is not its terms currency.
	terms := map[groupKey]catalog.Terms{}
	var lo, hi time.Time
	for k, g := range groups {
		if g.newUsers == 0 && g.credited == 0 {
			continue // nothing on a line
		}
		t, ok := termsVersion(src.Catalog, k.partnership, k.version)
		if !ok {
			return nil, fmt.Errorf("%w: partnership %s has no terms version %d", ErrNoTerms, k.partnership, k.version)
		}
		terms[k] = t
		for dc, amt := range g.revenue {
			if dc.cur == "" {
				if !amt.IsZero() {
					return nil, fmt.Errorf("partnership %s: revenue %s without a currency on %s", k.partnership, amt, dc.day.Format(time.DateOnly))
				}
				continue
			}
			if dc.cur == t.Currency || amt.IsZero() {
				continue
			}
			if lo.IsZero() || dc.day.Before(lo) {
				lo = dc.day
			}
			if hi.IsZero() || dc.day.After(hi) {
				hi = dc.day
			}
		}
	}
	var table *fx.Table
	if !lo.IsZero() {
		if src.Rates == nil {
			return nil, errors.New("conversions need currency conversion but the source has no rates")
		}
		var err error
		if table, err = src.Rates.Rates(ctx, lo, hi); err != nil {
			return nil, err
		}
	}
	out := make([]Line, 0, len(groups))
	var missing *MissingRatesError // every rate missing, not just the first
	for k, g := range groups {
		if g.newUsers == 0 && g.credited == 0 {
			continue
		}
		t := terms[k]
		ps := src.Catalog.Partnerships[k.partnership]
		scale, err := MinorUnit(t.Currency)
		if err != nil {
			return nil, fmt.Errorf("partnership %s terms version %d: %w", k.partnership, k.version, err)
		}
		revenue := decimal.Zero
		used := map[rateUsed]bool{}
		for dc, amt := range g.revenue {
			if dc.cur == "" || amt.IsZero() {
				continue
			}
			if dc.cur == t.Currency {
				revenue = revenue.Add(amt)
				continue
			}
			c, err := table.Convert(amt, dc.cur, t.Currency, dc.day)
			if ms := missingOf(table, err, dc.cur, t.Currency, dc.day); ms != nil {
				if missing == nil {
					missing = &MissingRatesError{}
				}
				missing.add(ms...)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("partnership %s: convert %s %s on %s: %w", k.partnership, amt, dc.cur, dc.day.Format(time.DateOnly), err)
			}
			revenue = revenue.Add(c.Amount)
			used[rateUsed{dc.cur, t.Currency, c.Rate.StringFixed(6), c.RateDate}] = true
		}
		cpa, pct := t.InboundCPA, t.InboundRevSharePct
		if k.direction == vocab.Outbound {
			cpa, pct = t.OutboundCPA, t.OutboundRevSharePct
		}
		l := Line{
			Partnership: k.partnership, Partner: ps.Partner, Country: ps.Country, Direction: k.direction,
			Currency: t.Currency, TermsVersion: k.version, Kind: KindRegular,
			Figures: Figures{NewUsers: g.newUsers,
				Revenue: revenue.RoundBank(scale),
				CPA:     decimal.NewFromInt(g.newUsers).Mul(cpa).RoundBank(scale),
			},
			FXRates: fxString(used),
		}
		// Rev-share is taken of the rounded line revenue, so the statement
		// can be checked from its own figures.
		l.RevShare = l.Revenue.Mul(pct).Shift(-2).RoundBank(scale)
		owed := l.CPA.Add(l.RevShare)
		if k.direction == vocab.Outbound {
			l.TheyOwe, l.WeOwe = owed, decimal.Zero
		} else {
			l.WeOwe, l.TheyOwe = owed, decimal.Zero
		}
		l.Net = l.TheyOwe.Sub(l.WeOwe)
		out = append(out, l)
	}
	if missing != nil {
		return nil, missing
	}
	sortLines(out)
	return out, nil
}

// fxString lists the rates used: "USD>EUR 0.923100 on 2026-10-30; ...",
// by source currency, then rate date, then rate.
func fxString(used map[rateUsed]bool) string {
	list := make([]rateUsed, 0, len(used))
	for r := range used {
		list = append(list, r)
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.from != b.from {
			return a.from < b.from
		}
		if !a.date.Equal(b.date) {
			return a.date.Before(b.date)
		}
		return a.rate < b.rate
	})
	parts := make([]string, len(list))
	for i, r := range list {
		parts[i] = r.from + ">" + r.to + " " + r.rate + " on " + r.date.Format(time.DateOnly)
	}
	return strings.Join(parts, "; ")
}
