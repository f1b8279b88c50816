package statements

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/reports"
)

// reconcileMoney checks the revenue and the amounts of a statement's
// regular lines against the partnerships report of the same month, per
// partnership and direction (the report does not split by terms version).
//
// Revenue: where the lines are in the reporting currency (EUR), the sum of
// their revenue equals the report's revenue within half a minor unit per
// line (each line is rounded once) and a millionth per conversion (the
// report sums amounts stored with 6 decimals; the statement converts each
// day's sum with 12). Where they are in another currency, the report's
// revenue_by_currency holding that currency alone (nothing converted on
// either side) must equal it the same way; a mix of currencies converted
// into a terms currency other than the reporting one cannot be compared
// with the report and is only logged. Amounts: with a single terms
// version, the CPA is the report's new users times the version's CPA, the
// rev-share the revenue times its percent, and we_owe, they_owe and net
// follow, each rounded as the statement rounds; with several versions the
// new users per version are not in the report, and the sums are checked
// line by line against each version's terms instead.
func reconcileMoney(t *testing.T, src Source, tbl *reports.Table, st *Statement) {
	t.Helper()
	col := map[string]int{}
	for i, c := range tbl.Columns {
		col[c.Name] = i
	}
	type fromReport struct {
		newUsers  int64
		conv      int64
		revenue   decimal.Decimal
		byCur     string
		converted bool
	}
	rep := map[string]*fromReport{}
	for _, r := range tbl.Rows {
		k := r[col["partnership"]].(string) + "/" + r[col["direction"]].(string)
		f := rep[k]
		if f == nil {
			f = &fromReport{}
			rep[k] = f
		}
		f.newUsers += int64(r[col["new_users"]].(uint64))
		f.conv += int64(r[col["purchases"]].(uint64) + r[col["refunds"]].(uint64))
		f.revenue = f.revenue.Add(r[col["revenue"]].(decimal.Decimal))
		f.byCur = r[col["revenue_by_currency"]].(string)
	}
	type sums struct {
		lines                                       []Line
		revenue, cpa, revShare, weOwe, theyOwe, net decimal.Decimal
	}
	stm := map[string]*sums{}
	var keys []string
	for _, l := range st.Lines {
		if l.Kind != KindRegular {
			continue
		}
		k := l.Partnership + "/" + l.Direction
		s := stm[k]
		if s == nil {
			s = &sums{}
			stm[k] = s
			keys = append(keys, k)
		}
		s.lines = append(s.lines, l)
		s.revenue, s.cpa, s.revShare = s.revenue.Add(l.Revenue), s.cpa.Add(l.CPA), s.revShare.Add(l.RevShare)
		s.weOwe, s.theyOwe, s.net = s.weOwe.Add(l.WeOwe), s.theyOwe.Add(l.TheyOwe), s.net.Add(l.Net)
	}
	compared := 0
	for _, k := range keys {
		s, f := stm[k], rep[k]
		if f == nil {
			f = &fromReport{}
		}
		cur := s.lines[0].Currency
		scale, err := MinorUnit(cur)
		if err != nil {
			t.Fatal(err)
		}
		tol := decimal.New(5, -int32(scale)-1).Mul(decimal.NewFromInt(int64(len(s.lines)))).
			Add(decimal.New(1, -6).Mul(decimal.NewFromInt(f.conv)))
		var want decimal.Decimal
		switch {
		case cur == "EUR":
			want = f.revenue
		case f.byCur == "" || (strings.HasPrefix(f.byCur, cur+" ") && !strings.Contains(f.byCur, ";")):
			want = decimal.Zero
			if f.byCur != "" {
				want = decimal.RequireFromString(strings.TrimPrefix(f.byCur, cur+" "))
			}
		default:
			t.Logf("%s %s: revenue %s %s from %q converted into %s: not comparable with the report's EUR", st.Period, k, s.revenue, cur, f.byCur, cur)
			continue
		}
		compared++
		if d := s.revenue.Sub(want).Abs(); d.GreaterThan(tol) {
			t.Errorf("%s %s revenue: statement %s %s, partnerships report %s (difference %s, more than %s)", st.Period, k, s.revenue, cur, want, d, tol)
			continue
		}
		dir := s.lines[0].Direction
		if len(s.lines) == 1 {
			tm, ok := termsVersion(src.Catalog, s.lines[0].Partnership, s.lines[0].TermsVersion)
			if !ok {
				t.Fatalf("%s: no terms version %d", k, s.lines[0].TermsVersion)
			}
			cpa, pct := tm.InboundCPA, tm.InboundRevSharePct
			if dir == vocab.Outbound {
				cpa, pct = tm.OutboundCPA, tm.OutboundRevSharePct
			}
			revenue := want.RoundBank(int32(scale))
			if d := revenue.Sub(s.revenue).Abs(); !d.IsZero() {
				// Within tolerance but rounded to the other side: the
				// amounts follow from the statement's own revenue.
				t.Logf("%s %s: report revenue rounds to %s, statement %s", st.Period, k, revenue, s.revenue)
				revenue = s.revenue
			}
			wantCPA := decimal.NewFromInt(f.newUsers).Mul(cpa).RoundBank(int32(scale))
			wantRS := revenue.Mul(pct).Shift(-2).RoundBank(int32(scale))
			owed := wantCPA.Add(wantRS)
			wantWe, wantThey := owed, decimal.Zero
			if dir == vocab.Outbound {
				wantWe, wantThey = decimal.Zero, owed
			}
			for _, c := range []struct {
				name      string
				got, want decimal.Decimal
			}{
				{"cpa", s.cpa, wantCPA}, {"revshare", s.revShare, wantRS},
				{"we_owe", s.weOwe, wantWe}, {"they_owe", s.theyOwe, wantThey}, {"net", s.net, wantThey.Sub(wantWe)},
			} {
				if !c.got.Equal(c.want) {
					t.Errorf("%s %s %s: statement %s, from the partnerships report %s", st.Period, k, c.name, c.got, c.want)
				}
			}
			continue
		}
		// Several versions: each line's amounts under its own version.
		var cpaSum decimal.Decimal
		for _, l := range s.lines {
			tm, ok := termsVersion(src.Catalog, l.Partnership, l.TermsVersion)
			if !ok {
				t.Fatalf("%s: no terms version %d", k, l.TermsVersion)
			}
			cpa := tm.InboundCPA
			if dir == vocab.Outbound {
				cpa = tm.OutboundCPA
			}
			cpaSum = cpaSum.Add(decimal.NewFromInt(l.NewUsers).Mul(cpa).RoundBank(int32(scale)))
		}
		if !cpaSum.Equal(s.cpa) {
			t.Errorf("%s %s cpa: statement %s, lines under their versions %s", st.Period, k, s.cpa, cpaSum)
		}
	}
	if len(keys) > 0 && compared == 0 {
		t.Errorf("%s: no partnership's revenue could be compared with the report", st.Period)
	}
}
