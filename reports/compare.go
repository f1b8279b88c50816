package reports

import (
	"time"

	"github.com/shopspring/decimal"
)

// Comparison columns: with Params.Compare, a report that compares
// (partnerships, balance) follows its own columns with NAME_prev and
// NAME_change for every numeric column (int, decimal, ratio), in the
// report's column order. The earlier row is the same report's row for the
// same key computed over the earlier period (zeros when it had none), so
// every figure is compared the same way and a new column is compared
// without a list to keep in step.

// numeric reports whether a column of kind k is a figure to compare.
func numeric(k string) bool { return k == KindInt || k == KindDecimal || k == KindRatio }

// compareColumns lists the comparison columns of cols.
func compareColumns(cols []Column) []Column {
	var out []Column
	for _, c := range cols {
		if numeric(c.Kind) {
			out = append(out, Column{c.Name + "_prev", c.Kind}, Column{c.Name + "_change", KindRatio})
		}
	}
	return out
}

// compareRow appends to cur (a row of cols) the earlier row's value and the
// change of every numeric column. prev is a row of the same columns.
func compareRow(cols []Column, cur, prev []any) []any {
	for i, c := range cols {
		if numeric(c.Kind) {
			cur = append(cur, prev[i], relChange(cur[i], prev[i]))
		}
	}
	return cur
}

// relChange is (a-b)/|b| as a float64, nil when either is missing or b is
// zero: nets can be negative, and a rise from -10 to -5 is +50%. Decimals
// are subtracted exactly before the division.
func relChange(a, b any) any {
	switch y := b.(type) {
	case decimal.Decimal:
		x, ok := a.(decimal.Decimal)
		if !ok || y.IsZero() {
			return nil
		}
		return x.Sub(y).Div(y.Abs()).InexactFloat64()
	}
	x, ok1 := asFloat(a)
	y, ok2 := asFloat(b)
	if !ok1 || !ok2 || y == 0 {
		return nil
	}
	if y < 0 {
		return (x - y) / -y
	}
	return (x - y) / y
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case uint64:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// periodCell is a row's period: the first day of its bucket with a
// granularity, else the whole period as "FROM..TO" (both days included,
// YYYY-MM-DD like the buckets), so that a row always says what it covers.
func periodCell(p Params, bucket time.Time) any {
	if p.Granularity == Total {
		return day(p.From) + ".." + day(p.To)
	}
	return bucket
}

// notePeriods ends t's notes with zones, how the periods are cut (when
// there are periods), and compare, what compare means here (when asked).
func (t *Table) notePeriods(p Params, zones, compare string) {
	if p.Granularity != Total {
		t.Notes = append(t.Notes, zones)
	}
	if p.Compare != "" {
		t.Notes = append(t.Notes, compare)
	}
}

// noCompare is the compare note of the reports that do not compare.
const noCompare = "compare does not apply to this report"

// bucketCell is the period cell of the reports that do not name the
// period when there is no granularity (overlaps, visitors): blank.
func bucketCell(p Params, bucket time.Time) any {
	if p.Granularity == Total {
		return nil
	}
	return bucket
}

// periodColumn is the period column of p: a date with a granularity, text
// (FROM..TO) without.
func periodColumn(p Params) Column {
	if p.Granularity == Total {
		return Column{"period", KindText}
	}
	return Column{"period", KindDate}
}
