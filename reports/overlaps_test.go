package reports_test

import (
	"bytes"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/reports"
)

// ovBrute computes the overlaps report and the total of contested users
// by brute force from the rows as written (see balance_test.go for the
// scenario).
func ovBrute(rows []balAttr, p reports.Params) ([][]any, uint64) {
	from, to := balCalDay(p.From), balCalDay(p.To)
	type key struct {
		period    time.Time
		ps, other string
	}
	type set map[string]bool
	users, newUsers, winnerNew := map[key]set{}, map[key]set{}, map[key]set{}
	add := func(m map[key]set, k key, u string) {
		if m[k] == nil {
			m[k] = set{}
		}
		m[k][u] = true
	}
	total := set{}
	for _, r := range latestVersions(rows) {
		if !balInScope(p, r.ps, true) || (r.outcome != "new_user" && r.outcome != "returning_user") {
			continue
		}
		d := balLocalDay(r.ps, r.ts)
		if d.Before(from) || d.After(to) {
			continue
		}
		period := balPeriodOf(p.Granularity, d)
		user := r.source + "\x00" + r.user + "\x00"
		if r.user == "" {
			user += r.conv
		}
		if r.outcome == "new_user" {
			add(winnerNew, key{period, r.ps, ""}, user)
		}
		for _, o := range r.overlaps {
			if o == r.ps {
				continue
			}
			label := o
			if !balInScope(p, o, false) {
				label = reports.OutOfScope
			}
			k := key{period, r.ps, label}
			add(users, k, user)
			if r.outcome == "new_user" {
				add(newUsers, k, user)
			}
			total[user] = true
		}
	}
	keys := slices.SortedFunc(maps.Keys(users), func(a, b key) int {
		if c := balOrder(a.period, b.period, a.ps, b.ps); c != 0 {
			return c
		}
		// the out-of-scope row last
		oa, ob := a.other, b.other
		if oa == reports.OutOfScope {
			oa = "\xff"
		}
		if ob == reports.OutOfScope {
			ob = "\xff"
		}
		return strings.Compare(oa, ob)
	})
	out := [][]any{}
	for _, k := range keys {
		ps, _ := balPS(k.ps)
		var period any = k.period
		if p.Granularity == reports.Total {
			period = nil
		}
		nu := uint64(len(winnerNew[key{k.period, k.ps, ""}]))
		cn := uint64(len(newUsers[k]))
		var share any
		if nu > 0 {
			share = float64(cn) / float64(nu)
		}
		out = append(out, []any{period, ps.Country, k.ps, ps.Partner, k.other, uint64(len(users[k])), cn, nu, share})
	}
	return out, uint64(len(total))
}

var ovTotalRe = regexp.MustCompile(`^contested users in total: (\d+) `)

func ovTotal(t *testing.T, tab *reports.Table) uint64 {
	t.Helper()
	for _, n := range tab.Notes {
		if m := ovTotalRe.FindStringSubmatch(n); m != nil {
			v, _ := strconv.ParseUint(m[1], 10, 64)
			return v
		}
	}
	t.Fatalf("no total in the notes %q", tab.Notes)
	return 0
}

// ovNoLeak checks that no output format of tab names a partnership (or,
// with a Partner scope, a partner) outside the reader's scope.
func ovNoLeak(t *testing.T, tab *reports.Table, p reports.Params) {
	t.Helper()
	var hidden []string
	for _, id := range []string{"acme-de", "beta-de", "cyan-de", "acme-in", "beta-in", "cyan-us", "zeta-de"} {
		if !balInScope(p, id, false) {
			hidden = append(hidden, id)
		}
	}
	if p.Partner != "" {
		for _, partner := range []string{"acme", "beta", "cyan", "zeta"} {
			if partner != p.Partner {
				hidden = append(hidden, partner)
			}
		}
	}
	for _, format := range []string{reports.FormatCSV, reports.FormatJSON, reports.FormatTable} {
		var b bytes.Buffer
		if err := tab.Write(&b, format); err != nil {
			t.Fatal(err)
		}
		for _, h := range hidden {
			if strings.Contains(b.String(), h) {
				t.Errorf("%s output names %q, outside the reader's scope:\n%s", format, h, b.String())
			}
		}
	}
}

func TestOverlapsFixture(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	env, conn := balSetup(t, ctx)
	rows := balReadAttrs(t, "overlaps_attributions.csv")
	balInsert(t, ctx, conn, rows)

	march := reports.Params{From: balDate("2024-03-01"), To: balDate("2024-03-31")}
	acme := march
	acme.Partner = "acme"
	tests := []struct {
		name   string
		p      reports.Params
		golden string
		total  uint64
	}{
		{"march", march, "overlaps_expected.csv", 8},
		{"partner acme sees no other partner", acme, "overlaps_expected_acme.csv", 6},
		{"country DE", reports.Params{From: balDate("2024-03-01"), To: balDate("2024-03-31"), Countries: []string{"DE"}}, "", 7},
		{"month in Kolkata and Berlin", reports.Params{From: balDate("2024-03-01"), To: balDate("2024-04-30"), Granularity: reports.Month}, "", 9},
		{"partnerships filter narrows winners only", reports.Params{From: balDate("2024-03-01"), To: balDate("2024-03-31"), Partnerships: []string{"beta-de"}}, "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := runReport(t, ctx, env, reports.OverlapsReport, tt.p, reports.OverlapsColumns)
			want, total := ovBrute(rows, tt.p)
			balCompare(t, "brute force", tab, want)
			if got := ovTotal(t, tab); got != total || got != tt.total {
				t.Errorf("total contested users %d, brute force %d, want %d", got, total, tt.total)
			}
			if tt.golden != "" {
				balGolden(t, tab, tt.golden)
			}
			ovNoLeak(t, tab, tt.p)
		})
	}
}

func TestOverlapsRandom(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	env, conn := balSetup(t, ctx)
	rows := balRandom(2, 4000)
	balInsert(t, ctx, conn, rows)
	cases := balRandomCases()
	d := balDate
	cases = append(cases, []struct {
		name string
		p    reports.Params
	}{
		{"partner cyan", reports.Params{From: d("2024-02-01"), To: d("2024-05-31"), Partner: "cyan"}},
		{"partner beta in DE by week", reports.Params{From: d("2024-03-01"), To: d("2024-04-30"), Granularity: reports.Week, Partner: "beta", Countries: []string{"DE"}}},
		{"country US", reports.Params{From: d("2024-02-01"), To: d("2024-05-31"), Granularity: reports.Month, Countries: []string{"US"}}},
	}...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := reports.OverlapsReport(ctx, env, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			want, total := ovBrute(rows, tc.p)
			balCompare(t, "brute force", tab, want)
			if got := ovTotal(t, tab); got != total {
				t.Errorf("total contested users %d, brute force %d", got, total)
			}
			ovNoLeak(t, tab, tc.p)
			if tc.p.Countries == nil && tc.p.Partner == "" && tc.p.Partnerships == nil && len(want) < 10 {
				t.Errorf("only %d rows: the scenario does not exercise this case", len(want))
			}
		})
	}
}
