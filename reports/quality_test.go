package reports_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// qtRejected is a stored rejected hit.
type qtRejected struct {
	id, reason, ps string
	ts             time.Time
}

func qtInsertRejected(t *testing.T, ctx context.Context, env *reports.Env, rs []qtRejected) {
	t.Helper()
	b, err := env.Conn.PrepareBatch(ctx, schema.RejectedHits.Insert())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, r := range rs {
		if err := b.Append(r.id, r.ts, "/r/x", r.reason, "", "", env.Catalog.Partnerships[r.ps].Partner, r.ps, "PL", uint8(0), r.ts); err != nil {
			t.Fatalf("append rejected %s: %v", r.id, err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// qtScenario adds to bdScenario's hits and attributions: hits of a
// partnership the catalog does not know, rejected hits with and without a
// (known) partnership, and duplicates: of attributed signups, purchases
// and refunds; of a user attributed to two partnerships (the earlier
// counts); of unattributed conversions; of nothing stored; of a
// conversion from another source; and stale computations.
func qtScenario(t *testing.T) (*reports.Env, []bdHit, []qtRejected, []bdAttr) {
	t.Helper()
	env, hits, attrs := bdScenario(t)
	ctx := testCtx(t, 60*time.Second)
	r := rand.New(rand.NewPCG(20260328, 2))
	start := time.Date(2026, 3, 24, 0, 0, 0, 0, time.UTC)
	span := int64(10 * 24 * time.Hour)
	at := func() time.Time { return start.Add(time.Duration(r.Int64N(span))).Truncate(time.Second) }

	var extra []bdHit
	for i := range 40 {
		ts := at()
		extra = append(extra, bdHit{id: fmt.Sprintf("g%03d", i), kind: []string{"click", "view"}[r.IntN(2)], ps: "gone", link: "old",
			device: "desktop", visitor: "v1", ts: ts, ingested: ts.Add(time.Duration(r.IntN(50)) * time.Second), bot: r.IntN(3) == 0})
	}
	bdInsertHits(t, ctx, env, extra)
	hits = append(hits, extra...)

	reasons := []string{"unknown_code", "link_inactive", "bad_amount", "missing_l_or_e", "param_too_long"}
	pss := []string{"de-alpha", "us-alpha", "de-bravo", "fr-bravo", "", "", "gone"}
	var rejected []qtRejected
	for i := range 500 {
		rejected = append(rejected, qtRejected{id: fmt.Sprintf("r%04d", i), reason: reasons[r.IntN(len(reasons))], ps: pss[r.IntN(len(pss))], ts: at()})
	}
	qtInsertRejected(t, ctx, env, rejected)

	var more []bdAttr
	n := 0
	next := func() string { n++; return fmt.Sprintf("q%05d", n) }
	dup := func(of bdAttr, ts time.Time) bdAttr {
		return bdAttr{conv: next(), typ: of.typ, source: of.source, user: of.user, order: of.order, outcome: "duplicate", ts: ts, version: 2}
	}
	latest := latestVersions(attrs)
	for range 250 {
		o := latest[r.IntN(len(latest))]
		d := dup(o, o.ts.Add(time.Duration(r.Int64N(int64(3*24*time.Hour)))).Truncate(time.Second))
		more = append(more, d)
		if r.IntN(6) == 0 {
			// A stale computation called this one a duplicate too, or an
			// earlier one a credited conversion.
			s := d
			s.version, s.outcome, s.ps = 1, "credited", o.ps
			more = append(more, s)
		}
	}
	for i := range 60 {
		user := fmt.Sprint("w", i)
		src := []string{"ours", "partner:alpha", "partner:bravo"}[r.IntN(3)]
		t1 := at()
		first := bdAttr{conv: next(), typ: "signup", source: src, user: user, outcome: "new_user", ps: pss[r.IntN(4)], ts: t1, version: 2}
		switch r.IntN(4) {
		case 0:
			first.outcome, first.ps = "unattributed", ""
		case 1:
			first.ps = "gone"
		}
		more = append(more, first)
		if r.IntN(2) == 0 {
			// Returning to another partnership, earlier or later.
			more = append(more, bdAttr{conv: next(), typ: "signup", source: src, user: user, outcome: "returning_user",
				ps: pss[r.IntN(4)], ts: t1.Add(time.Duration(r.IntN(200000)-100000) * time.Second), version: 2})
		}
		for range r.IntN(3) {
			more = append(more, dup(first, t1.Add(time.Duration(r.IntN(300000)-50000)*time.Second)))
		}
		// The same user id from another source is another user.
		other := first
		other.source = "partner:nobody"
		more = append(more, dup(other, t1.Add(time.Hour)))
	}
	for i := range 20 {
		more = append(more, bdAttr{conv: next(), typ: "purchase", source: "ours", order: fmt.Sprint("ghost", i), outcome: "duplicate", ts: at(), version: 2})
	}
	// Credited purchases attribution found no rate for; a stale
	// computation of some had the opposite.
	for i := range 40 {
		a := bdAttr{conv: next(), typ: "purchase", source: "ours", order: fmt.Sprint("nofx", i), outcome: "credited", ps: pss[r.IntN(len(pss))],
			ts: at(), version: 2, revRep: decimal.New(r.Int64N(100000)+1, -2), cur: []string{"USD", "GBP"}[r.IntN(2)], noFX: r.IntN(3) != 0}
		more = append(more, a)
		if r.IntN(4) == 0 {
			s := a
			s.version, s.noFX = 1, !a.noFX
			more = append(more, s)
		}
	}
	bdInsertAttrs(t, ctx, env, more)
	return env, hits, rejected, append(attrs, more...)
}

// qtQuantile is ClickHouse's quantiles over a full reservoir: linear
// interpolation between the two samples around level*(n-1).
func qtQuantile(sorted []float64, level float64) float64 {
	index := math.Max(0, math.Min(float64(len(sorted)-1), level*float64(len(sorted)-1)))
	left := int(index)
	right := left + 1
	if right == len(sorted) {
		return sorted[left]
	}
	return sorted[left]*(float64(right)-index) + sorted[right]*(index-float64(left))
}

// qtReference computes the quality report by brute force.
func qtReference(env *reports.Env, hits []bdHit, rejected []qtRejected, attrs []bdAttr, p reports.Params) [][]any {
	type key struct{ partner, country string }
	type agg struct {
		hits, bots, rejected, dups uint64
		lags                       []float64
		reasons                    map[string]uint64
		noFX                       map[string]uint64 // "USD 2026-03-25"
	}
	inScope := func(id string) bool {
		ps, ok := env.Catalog.Partnerships[id]
		return ok && (p.Countries == nil || slices.Contains(p.Countries, ps.Country)) &&
			(p.Partner == "" || ps.Partner == p.Partner) && (p.Partnerships == nil || slices.Contains(p.Partnerships, id))
	}
	admin := p.Countries == nil && p.Partner == "" && p.Partnerships == nil
	// where puts a row of partnership id at ts into its report row.
	where := func(id string, ts time.Time) (key, bool) {
		if inScope(id) {
			ps := env.Catalog.Partnerships[id]
			from, to := bdBounds(p, bdZone(env, ps.Country))
			return key{ps.Partner, ps.Country}, bdIn(ts, from, to)
		}
		if _, known := env.Catalog.Partnerships[id]; !known && admin {
			from, to := bdBounds(p, time.UTC)
			return key{}, bdIn(ts, from, to)
		}
		return key{}, false
	}
	out := map[key]*agg{}
	get := func(k key) *agg {
		if out[k] == nil {
			out[k] = &agg{reasons: map[string]uint64{}, noFX: map[string]uint64{}}
		}
		return out[k]
	}
	for _, h := range hits {
		k, ok := where(h.ps, h.ts)
		if !ok {
			continue
		}
		a := get(k)
		a.lags = append(a.lags, float64(h.ingested.Unix()-h.ts.Unix()))
		if h.kind == "click" || h.kind == "view" {
			a.hits++
			if h.bot {
				a.bots++
			}
		}
	}
	for _, r := range rejected {
		if k, ok := where(r.ps, r.ts); ok {
			a := get(k)
			a.rejected++
			a.reasons[r.reason]++
		}
	}
	latestAll := latestVersions(attrs)
	for _, a := range latestAll {
		if a.outcome != "credited" || !a.noFX || a.revRep.IsZero() {
			continue
		}
		if k, ok := where(a.ps, a.ts); ok {
			get(k).noFX[a.cur+" "+a.ts.UTC().Format(time.DateOnly)]++
		}
	}
	// Duplicates: the original is the earliest (ts, conversion) attributed
	// conversion of the same source, type and user or order, before the
	// period's end in the zone the duplicate is looked at in.
	latest := latestVersions(attrs)
	keyOf := func(a bdAttr) string {
		if a.typ == "signup" {
			return a.user
		}
		return a.order
	}
	original := func(d bdAttr, before time.Time) *bdAttr {
		var best *bdAttr
		for i := range latest {
			o := &latest[i]
			if o.outcome == "duplicate" || o.ps == "" || keyOf(*o) == "" || !o.ts.Before(before) ||
				o.source != d.source || o.typ != d.typ || keyOf(*o) != keyOf(d) {
				continue
			}
			if best == nil || o.ts.Before(best.ts) || o.ts.Equal(best.ts) && o.conv < best.conv {
				best = o
			}
		}
		return best
	}
	zones := map[string][]string{}
	for id, ps := range env.Catalog.Partnerships {
		if inScope(id) {
			z := bdZone(env, ps.Country).String()
			zones[z] = append(zones[z], id)
		}
	}
	for z, ids := range zones {
		loc, _ := time.LoadLocation(z)
		from, to := bdBounds(p, loc)
		for _, d := range latest {
			if d.outcome != "duplicate" || !bdIn(d.ts, from, to) {
				continue
			}
			if o := original(d, to); o != nil && slices.Contains(ids, o.ps) {
				ps := env.Catalog.Partnerships[o.ps]
				get(key{ps.Partner, ps.Country}).dups++
			}
		}
	}
	if admin {
		from, to := bdBounds(p, time.UTC)
		for _, d := range latest {
			if d.outcome != "duplicate" || !bdIn(d.ts, from, to) {
				continue
			}
			o := original(d, to)
			if o == nil {
				get(key{}).dups++
			} else if _, known := env.Catalog.Partnerships[o.ps]; !known {
				get(key{}).dups++
			}
		}
	}
	var keys []key
	for k := range out {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if (a.partner == "") != (b.partner == "") {
			return b.partner == ""
		}
		if a.partner != b.partner {
			return a.partner < b.partner
		}
		return a.country < b.country
	})
	var rows [][]any
	for _, k := range keys {
		a := out[k]
		var share, p50, p99 any
		if a.hits > 0 {
			share = float64(a.bots) / float64(a.hits)
		}
		if len(a.lags) > 0 {
			sort.Float64s(a.lags)
			p50 = decimal.NewFromFloat(qtQuantile(a.lags, 0.5)).Round(3)
			p99 = decimal.NewFromFloat(qtQuantile(a.lags, 0.99)).Round(3)
		}
		var rs []string
		for r := range a.reasons {
			rs = append(rs, r)
		}
		sort.Strings(rs)
		for i, r := range rs {
			rs[i] = r + " " + strconv.FormatUint(a.reasons[r], 10)
		}
		// By day, then currency.
		var gaps []string
		for g := range a.noFX {
			gaps = append(gaps, g)
		}
		sort.Slice(gaps, func(i, j int) bool {
			ci, di, _ := strings.Cut(gaps[i], " ")
			cj, dj, _ := strings.Cut(gaps[j], " ")
			if di != dj {
				return di < dj
			}
			return ci < cj
		})
		for i, g := range gaps {
			gaps[i] = g + " (" + strconv.FormatUint(a.noFX[g], 10) + ")"
		}
		rows = append(rows, []any{k.partner, k.country, a.hits, a.bots, share, a.rejected, strings.Join(rs, "; "), a.dups, p50, p99, strings.Join(gaps, "; ")})
	}
	return rows
}

// TestQualityReportIsExact compares every figure with a brute-force
// computation over the stored rows, per scope: the admin (with the
// unattributed row), each partner (only its own rows), country managers,
// one partnership, no country at all.
func TestQualityReportIsExact(t *testing.T) {
	env, hits, rejected, attrs := qtScenario(t)
	ctx := testCtx(t, 60*time.Second)
	from, to := bdDay("2026-03-27"), bdDay("2026-03-30")
	tests := []struct {
		name string
		p    reports.Params
	}{
		{"admin", reports.Params{From: from, To: to}},
		{"admin, bots and days make no difference", reports.Params{From: from, To: to, IncludeBots: true, Granularity: reports.Day}},
		{"admin, one day", reports.Params{From: bdDay("2026-03-29"), To: bdDay("2026-03-29")}},
		{"admin, everything", reports.Params{From: bdDay("2026-03-01"), To: bdDay("2026-04-30")}},
		{"partner alpha", reports.Params{From: from, To: to, Partner: "alpha"}},
		{"partner bravo", reports.Params{From: from, To: to, Partner: "bravo"}},
		{"DE manager", reports.Params{From: from, To: to, Countries: []string{"DE"}}},
		{"FR and US manager", reports.Params{From: from, To: to, Countries: []string{"FR", "US"}}},
		{"partner bravo in DE", reports.Params{From: from, To: to, Partner: "bravo", Countries: []string{"DE"}}},
		{"one partnership", reports.Params{From: from, To: to, Partnerships: []string{"de-bravo"}}},
		{"no country", reports.Params{From: from, To: to, Countries: []string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := runReport(t, ctx, env, reports.QualityReport, tt.p, reports.QualityColumns)
			want := qtReference(env, hits, rejected, attrs, tt.p)
			if tt.name != "no country" && len(want) == 0 {
				t.Fatal("the scenario gives no rows")
			}
			bdCompare(t, tab.Rows, want)
			admin := tt.p.Countries == nil && tt.p.Partner == "" && tt.p.Partnerships == nil
			sawUnattributed := false
			for _, r := range tab.Rows {
				partner, country := r[0].(string), r[1].(string)
				if partner == "" {
					sawUnattributed = true
					if !admin {
						t.Errorf("unattributed row in a narrowed scope: %v", r)
					}
					continue
				}
				if tt.p.Partner != "" && partner != tt.p.Partner {
					t.Errorf("partner %s's row in partner %s's report", partner, tt.p.Partner)
				}
				if tt.p.Countries != nil && !slices.Contains(tt.p.Countries, country) {
					t.Errorf("country %s in a report of %v", country, tt.p.Countries)
				}
			}
			if admin && !sawUnattributed {
				t.Error("no unattributed row for the admin")
			}
			// Nothing in the table names another partner.
			if tt.p.Partner != "" {
				var buf bytes.Buffer
				if err := tab.Write(&buf, reports.FormatJSON); err != nil {
					t.Fatal(err)
				}
				for _, other := range []string{"alpha", "bravo"} {
					if other != tt.p.Partner && strings.Contains(buf.String(), other) {
						t.Errorf("partner %s's report mentions %s:\n%s", tt.p.Partner, other, buf.String())
					}
				}
			}
		})
	}
}

// The fixture: testdata/quality_hits.csv, quality_rejected.csv and
// quality_attributions.csv, hand-checked, with the expected report (as
// the CSV format writes it) for the admin and for partner bravo.
var (
	qtFixtureHitsHeader     = []string{"id", "ts", "ingested_at", "kind", "partnership", "is_bot"}
	qtFixtureRejectedHeader = []string{"id", "ts", "reason", "partnership"}
	qtFixtureAttrsHeader    = []string{"conversion", "ts", "type", "source", "user_id", "order_id", "outcome", "partnership", "version"}
)

func TestQualityFixture(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	db := testenv.ClickHouse(t)
	env := bdEnv(t, ctx, db.Conn)
	var hits []bdHit
	for _, r := range readCSV(t, "quality_hits.csv", qtFixtureHitsHeader) {
		hits = append(hits, bdHit{id: r[0], ts: bdTime(t, r[1]), ingested: bdTime(t, r[2]), kind: r[3], ps: r[4], bot: r[5] == "1", device: "desktop"})
	}
	var rejected []qtRejected
	for _, r := range readCSV(t, "quality_rejected.csv", qtFixtureRejectedHeader) {
		rejected = append(rejected, qtRejected{id: r[0], ts: bdTime(t, r[1]), reason: r[2], ps: r[3]})
	}
	var attrs []bdAttr
	for _, r := range readCSV(t, "quality_attributions.csv", qtFixtureAttrsHeader) {
		v, err := strconv.ParseUint(r[8], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		attrs = append(attrs, bdAttr{conv: r[0], ts: bdTime(t, r[1]), typ: r[2], source: r[3], user: r[4], order: r[5], outcome: r[6], ps: r[7], version: v})
	}
	bdInsertHits(t, ctx, env, hits)
	qtInsertRejected(t, ctx, env, rejected)
	bdInsertAttrs(t, ctx, env, attrs)
	for _, tt := range []struct {
		file string
		p    reports.Params
	}{
		{"quality_expected.csv", reports.Params{}},
		{"quality_expected_bravo.csv", reports.Params{Partner: "bravo"}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			tt.p.From, tt.p.To = bdDay("2026-03-28"), bdDay("2026-03-29")
			tab, err := reports.QualityReport(ctx, env, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			bdCompare(t, tab.Rows, qtReference(env, hits, rejected, attrs, tt.p))
			checkCSVFile(t, tab, tt.file)
		})
	}
}
