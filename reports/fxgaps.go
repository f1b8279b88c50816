package reports

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// A credited conversion with revenue but no reporting-currency amount is
// one attribution found no ECB rate for (domain/attribution leaves
// revenue_rep 0 and marks it with fx_rate 0; the same currency on both
// sides has rate 1). Its revenue would silently count 0 in every
// reporting-currency figure, so reports say which currency-days lack a
// rate. The day is the conversion's UTC day, the one whose rate converts it.
const noFXCondition = `outcome = 'credited' AND currency != '' AND revenue != 0 AND fx_rate = 0`

// fxGap is the unconverted revenue of one partnership and direction in one
// currency on one UTC day.
type fxGap struct {
	ps, dir, cur string
	day          time.Time
	n            uint64
	amount       decimal.Decimal
}

// maxGapsListed bounds the gaps a note names.
const maxGapsListed = 10

// fxGapNote is the note that says which revenue lacks a reporting amount,
// and what to do; "" when nothing does.
func fxGapNote(gaps []fxGap) string {
	type key struct {
		ps, dir, cur string
		day          time.Time
	}
	merged := map[key]*fxGap{}
	var first, last time.Time
	for _, g := range gaps {
		k := key{g.ps, g.dir, g.cur, g.day}
		m := merged[k]
		if m == nil {
			m = &fxGap{ps: g.ps, dir: g.dir, cur: g.cur, day: g.day}
			merged[k] = m
		}
		m.n += g.n
		m.amount = m.amount.Add(g.amount)
		if first.IsZero() || g.day.Before(first) {
			first = g.day
		}
		if g.day.After(last) {
			last = g.day
		}
	}
	if len(merged) == 0 {
		return ""
	}
	list := slices.SortedFunc(maps.Values(merged), func(a, b *fxGap) int {
		return cmp.Or(a.day.Compare(b.day), strings.Compare(a.cur, b.cur), strings.Compare(a.ps, b.ps), strings.Compare(a.dir, b.dir))
	})
	var parts []string
	var n uint64
	for i, g := range list {
		n += g.n
		if i < maxGapsListed {
			what := "conversions"
			if g.n == 1 {
				what = "conversion"
			}
			who := g.ps
			if g.dir != "" {
				who += " " + g.dir
			}
			parts = append(parts, fmt.Sprintf("%s on %s (%s: %d %s, %s %s)", g.cur, day(g.day), who, g.n, what, g.cur, g.amount.StringFixed(2)))
		}
	}
	if len(list) > maxGapsListed {
		parts = append(parts, fmt.Sprintf("and %d more", len(list)-maxGapsListed))
	}
	return fmt.Sprintf("missing FX rates: %d credited conversions have no amount in the reporting currency, so revenue leaves them out "+
		"(revenue_by_currency has them): no ECB rate for %s. Load the rates (xpromo fx load FILE) and recompute "+
		"(xpromo attribute --from %s --to %s); a statement needing them cannot be closed until then",
		n, strings.Join(parts, "; "), day(first), day(last))
}

// qualityFXGaps is "USD 2026-11-03 (2); GBP 2026-11-04 (1)": conversions
// without a reporting amount per currency and UTC day, by day then currency.
func qualityFXGaps(gaps []fxGap) string {
	type key struct {
		cur string
		day time.Time
	}
	by := map[key]uint64{}
	for _, g := range gaps {
		by[key{g.cur, g.day}] += g.n
	}
	keys := slices.SortedFunc(maps.Keys(by), func(a, b key) int {
		return cmp.Or(a.day.Compare(b.day), strings.Compare(a.cur, b.cur))
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %s (%d)", k.cur, day(k.day), by[k])
	}
	return strings.Join(parts, "; ")
}

// utcDay is a Date column's calendar day as UTC midnight, whatever zone
// the driver gave it in.
func utcDay(d time.Time) time.Time {
	y, m, dd := d.Date()
	return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
}
