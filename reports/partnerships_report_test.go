package reports_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

type genHit struct {
	id, ps, dir, kind, visitor string
	ts                         time.Time
	bot                        bool
}

type genAttr struct {
	conv, ps, dir, typ, outcome, currency string
	ts                                    time.Time
	revenue, revRep                       decimal.Decimal
}

// reportScenario stores a catalog, random hits and attributions (two
// computations of some conversions: only the latest counts), and returns
// them for a brute-force check.
func reportScenario(t *testing.T) (*reports.Env, []genHit, []genAttr) {
	t.Helper()
	db := testenv.ClickHouse(t)
	ctx := context.Background()
	pg := testenv.Postgres(t).Pool
	cat := catalog.NewStore(pg)
	for _, p := range []string{"alpha", "bravo"} {
		if _, err := cat.AddPartner(ctx, catalog.Partner{ID: p, Name: p}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	for _, ps := range []catalog.Partnership{
		{ID: "de-alpha", Partner: "alpha", Country: "DE", Direction: vocab.Both},
		{ID: "de-bravo", Partner: "bravo", Country: "DE", Direction: vocab.Both},
		{ID: "in-alpha", Partner: "alpha", Country: "IN", Direction: vocab.Both},
	} {
		if _, err := cat.AddPartnership(ctx, ps, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if err := reports.SetZone(ctx, pg, "DE", "Europe/Berlin", "test"); err != nil {
		t.Fatal(err)
	}
	if err := reports.SetZone(ctx, pg, "IN", "Asia/Kolkata", "test"); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 11))
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC) // across Europe's DST change on 25 October
	pss := []string{"de-alpha", "de-bravo", "in-alpha"}
	var hits []genHit
	for range 6000 {
		ts := start.Add(time.Duration(r.Int64N(int64(45 * 24 * time.Hour)))).Truncate(time.Second)
		h := genHit{id: ids.New(ts), ps: pss[r.IntN(len(pss))], dir: []string{"inbound", "outbound"}[r.IntN(2)],
			kind: []string{"click", "click", "view"}[r.IntN(3)], visitor: fmt.Sprint("v", r.IntN(400)), ts: ts, bot: r.IntN(20) == 0}
		hits = append(hits, h)
	}
	batch, err := db.Conn.PrepareBatch(ctx, schema.Hits.InsertOnly("id", "ts", "kind", "partnership", "partner", "direction", "visitor", "is_bot", "country", "ingested_at"))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		var bot uint8
		if h.bot {
			bot = 1
		}
		if err := batch.Append(h.id, h.ts, h.kind, h.ps, "x", h.dir, h.visitor, bot, "DE", h.ts); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	var attrs []genAttr
	outcomes := []string{"new_user", "returning_user", "credited", "credited", "duplicate", "outside_window"}
	for i := range 800 {
		ts := start.Add(time.Duration(r.Int64N(int64(45 * 24 * time.Hour)))).Truncate(time.Second)
		a := genAttr{conv: fmt.Sprint("c", i), ps: pss[r.IntN(len(pss))], dir: []string{"inbound", "outbound"}[r.IntN(2)],
			outcome: outcomes[r.IntN(len(outcomes))], ts: ts, currency: []string{"EUR", "USD"}[r.IntN(2)]}
		a.typ = map[string]string{"new_user": "signup", "returning_user": "signup", "credited": "purchase", "duplicate": "purchase", "outside_window": "purchase"}[a.outcome]
		if a.typ == "purchase" {
			a.revenue = decimal.New(r.Int64N(100000), -2)
			if r.IntN(10) == 0 {
				a.typ, a.revenue = "refund", a.revenue.Neg()
			}
			a.revRep = a.revenue.Mul(decimal.RequireFromString("0.9"))
		}
		attrs = append(attrs, a)
	}
	write := func(as []genAttr, version uint64) {
		b, err := db.Conn.PrepareBatch(ctx, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "outcome", "partnership", "partner", "country", "direction", "revenue", "currency", "revenue_rep", "rep_currency", "computed_at", "version"))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			cc := map[string]string{"de-alpha": "DE", "de-bravo": "DE", "in-alpha": "IN"}[a.ps]
			if err := b.Append(a.conv, a.ts, a.typ, "ours", a.outcome, a.ps, "x", cc, a.dir, a.revenue, a.currency, a.revRep, "EUR", a.ts, version); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	// An earlier computation of the first 200 conversions said something
	// else; the later one (version 2) must win.
	stale := make([]genAttr, 200)
	for i := range stale {
		stale[i] = attrs[i]
		stale[i].outcome, stale[i].ps = "credited", "de-bravo"
		stale[i].revRep = decimal.NewFromInt(1000)
	}
	write(stale, 1)
	write(attrs, 2)
	snap, err := cat.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env, err := reports.NewEnv(ctx, db.Conn, pg, snap)
	if err != nil {
		t.Fatal(err)
	}
	return env, hits, attrs
}

// expected computes the partnerships report by brute force.
func expected(env *reports.Env, hits []genHit, attrs []genAttr, p reports.Params) map[string]string {
	type agg struct {
		views, clicks, nu, ret, purch, ref uint64
		visitors                           map[string]bool
		rev                                decimal.Decimal
	}
	out := map[string]*agg{}
	bucket := func(ps string, ts time.Time) (string, bool) {
		cc := env.Catalog.Partnerships[ps].Country
		if p.Countries != nil && !slices.Contains(p.Countries, cc) {
			return "", false
		}
		if p.Partner != "" && env.Catalog.Partnerships[ps].Partner != p.Partner {
			return "", false
		}
		loc := time.UTC
		if z := env.Zones[cc]; z != nil {
			loc = z
		}
		local := ts.In(loc)
		d := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC)
		if d.Before(p.From) || d.After(p.To) {
			return "", false
		}
		switch p.Granularity {
		case reports.Week:
			for d.Weekday() != time.Monday {
				d = d.AddDate(0, 0, -1)
			}
		case reports.Month:
			d = time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
		case reports.Total:
			d = time.Time{}
		}
		return d.Format(time.DateOnly), true
	}
	get := func(k string) *agg {
		if out[k] == nil {
			out[k] = &agg{visitors: map[string]bool{}}
		}
		return out[k]
	}
	for _, h := range hits {
		b, ok := bucket(h.ps, h.ts)
		if !ok || (h.bot && !p.IncludeBots) {
			continue
		}
		a := get(b + "/" + h.ps + "/" + h.dir)
		if h.kind == "view" {
			a.views++
		} else {
			a.clicks++
			a.visitors[h.visitor] = true
		}
	}
	for _, at := range attrs {
		b, ok := bucket(at.ps, at.ts)
		if !ok {
			continue
		}
		k := b + "/" + at.ps + "/" + at.dir
		switch {
		case at.outcome == "new_user":
			get(k).nu++
		case at.outcome == "returning_user":
			get(k).ret++
		case at.outcome == "credited" && at.typ == "purchase":
			get(k).purch++
			get(k).rev = get(k).rev.Add(at.revRep)
		case at.outcome == "credited" && at.typ == "refund":
			get(k).ref++
			get(k).rev = get(k).rev.Add(at.revRep)
		}
	}
	res := map[string]string{}
	for k, a := range out {
		res[k] = fmt.Sprintf("views=%d clicks=%d uv=%d new=%d ret=%d purch=%d ref=%d rev=%s",
			a.views, a.clicks, len(a.visitors), a.nu, a.ret, a.purch, a.ref, a.rev.StringFixed(2))
	}
	return res
}

// got reads the report's table into the same form as expected.
func got(t *testing.T, tab *reports.Table) map[string]string {
	t.Helper()
	col := map[string]int{}
	for i, c := range tab.Columns {
		col[c.Name] = i
	}
	res := map[string]string{}
	for _, r := range tab.Rows {
		period := ""
		if v, ok := r[col["period"]].(time.Time); ok {
			period = v.Format(time.DateOnly)
		} else {
			period = time.Time{}.Format(time.DateOnly)
		}
		k := period + "/" + r[col["partnership"]].(string) + "/" + r[col["direction"]].(string)
		res[k] = fmt.Sprintf("views=%d clicks=%d uv=%d new=%d ret=%d purch=%d ref=%d rev=%s",
			r[col["views"]], r[col["clicks"]], r[col["unique_visitors"]], r[col["new_users"]], r[col["returning_users"]],
			r[col["purchases"]], r[col["refunds"]], r[col["revenue"]].(decimal.Decimal).StringFixed(2))
	}
	return res
}

// TestPartnershipsReportIsExact compares every figure of the report with a
// brute-force computation over the stored rows, for each granularity, with
// and without bots, across a DST change (Europe/Berlin, read from the
// hourly rollup) and in a half-hour zone (Asia/Kolkata, read from hits),
// and within a country manager's and a partner's scope.
func TestPartnershipsReportIsExact(t *testing.T) {
	env, hits, attrs := reportScenario(t)
	from, to := time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		p    reports.Params
	}{
		{"total", reports.Params{From: from, To: to}},
		{"days", reports.Params{From: from, To: to, Granularity: reports.Day}},
		{"weeks with bots", reports.Params{From: from, To: to, Granularity: reports.Week, IncludeBots: true}},
		{"months", reports.Params{From: from, To: to, Granularity: reports.Month}},
		{"DE manager", reports.Params{From: from, To: to, Granularity: reports.Day, Countries: []string{"DE"}}},
		{"IN only, days", reports.Params{From: from, To: to, Granularity: reports.Day, Countries: []string{"IN"}}},
		{"partner bravo", reports.Params{From: from, To: to, Partner: "bravo"}},
		{"no country", reports.Params{From: from, To: to, Countries: []string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := reports.PartnershipsReport(context.Background(), env, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			want, have := expected(env, hits, attrs, tt.p), got(t, tab)
			both := maps.Clone(want)
			maps.Copy(both, have)
			keys := slices.Sorted(maps.Keys(both))
			bad := 0
			for _, k := range keys {
				if want[k] != have[k] {
					if bad++; bad <= 5 {
						t.Errorf("%s:\n got %s\nwant %s", k, have[k], want[k])
					}
				}
			}
			if bad > 0 || len(want) == 0 && tt.name != "no country" {
				t.Fatalf("%d of %d rows differ", bad, len(keys))
			}
		})
	}
}

// TestPartnershipsReportCompare: with compare=previous every numeric
// column has NAME_prev, equal to the report of the earlier period, and
// NAME_change; a total report's period is its FROM..TO range.
func TestPartnershipsReportCompare(t *testing.T) {
	env, _, _ := reportScenario(t)
	ctx := context.Background()
	cur := reports.Params{From: time.Date(2026, 10, 21, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC), Compare: reports.ComparePrevious}
	tab, err := reports.PartnershipsReport(ctx, env, cur)
	if err != nil {
		t.Fatal(err)
	}
	prev, err := reports.PartnershipsReport(ctx, env, reports.Params{From: time.Date(2026, 10, 11, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, c := range tab.Columns {
		col[c.Name] = i
	}
	var figures []string
	for _, c := range reports.PartnershipsColumns {
		switch c.Kind {
		case reports.KindInt, reports.KindDecimal, reports.KindRatio:
			figures = append(figures, c.Name)
			if _, ok := col[c.Name+"_prev"]; !ok {
				t.Errorf("no %s_prev", c.Name)
			}
			if _, ok := col[c.Name+"_change"]; !ok {
				t.Errorf("no %s_change", c.Name)
			}
		}
	}
	if len(figures) < 12 || len(tab.Columns) != len(reports.PartnershipsColumns)+2*len(figures) {
		t.Fatalf("columns %v", tab.Columns)
	}
	earlier := map[string][]any{}
	for _, r := range prev.Rows {
		earlier[r[col["partnership"]].(string)+"/"+r[col["direction"]].(string)] = r
	}
	if len(tab.Rows) == 0 {
		t.Fatal("empty report")
	}
	compared := 0
	for _, r := range tab.Rows {
		if r[0] != "2026-10-21..2026-10-30" || tab.Columns[0].Kind != reports.KindText {
			t.Errorf("period %v (%s), want 2026-10-21..2026-10-30 (text)", r[0], tab.Columns[0].Kind)
		}
		k := r[col["partnership"]].(string) + "/" + r[col["direction"]].(string)
		e := earlier[k]
		for _, f := range figures {
			var want any
			switch {
			case e != nil:
				want = e[col[f]]
			case reports.PartnershipsColumns[col[f]].Kind == reports.KindInt:
				want = uint64(0)
			case f == "revenue":
				want = decimal.Zero
			}
			if !balSameCell(r[col[f+"_prev"]], want) {
				t.Errorf("%s: %s_prev %v, the earlier report says %v", k, f, r[col[f+"_prev"]], want)
			}
			if want != nil && r[col[f+"_prev"]] != nil {
				compared++
			}
			var wantChange any
			if a, b := asDec(r[col[f]]), asDec(want); a != nil && b != nil {
				wantChange = balRelChange(*a, *b)
			}
			if !balSameCell(r[col[f+"_change"]], wantChange) {
				t.Errorf("%s: %s_change %v, want %v", k, f, r[col[f+"_change"]], wantChange)
			}
		}
	}
	if compared == 0 {
		t.Error("no earlier figure compared")
	}
}

func asDec(v any) *decimal.Decimal {
	var d decimal.Decimal
	switch x := v.(type) {
	case uint64:
		d = decimal.NewFromUint64(x)
	case float64:
		d = decimal.NewFromFloat(x)
	case decimal.Decimal:
		d = x
	default:
		return nil
	}
	return &d
}
