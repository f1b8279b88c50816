package reports_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// The scenario's catalog: two partners, four partnerships in three zones
// (DE Europe/Berlin, US America/New_York, FR not set: UTC) and their links.
var (
	bdPartnerships = []catalog.Partnership{
		{ID: "de-alpha", Partner: "alpha", Country: "DE", Direction: vocab.Both},
		{ID: "us-alpha", Partner: "alpha", Country: "US", Direction: vocab.Both},
		{ID: "de-bravo", Partner: "bravo", Country: "DE", Direction: vocab.Both},
		{ID: "fr-bravo", Partner: "bravo", Country: "FR", Direction: vocab.Both},
	}
	bdLinks = []catalog.Link{
		{Code: "spring-a", Partnership: "de-alpha", Campaign: "spring"},
		{Code: "spring-b", Partnership: "de-alpha", Campaign: "spring"},
		{Code: "plain", Partnership: "de-alpha"},
		{Code: "us-1", Partnership: "us-alpha", Campaign: "launch"},
		{Code: "us-2", Partnership: "us-alpha"},
		{Code: "db-1", Partnership: "de-bravo", Campaign: "x"},
		{Code: "db-2", Partnership: "de-bravo"},
		{Code: "fr-link", Partnership: "fr-bravo", Campaign: "y"},
		{Code: "fr-2", Partnership: "fr-bravo", Campaign: "z"},
	}
)

// bdHit is a stored hit with the columns the breakdown and quality
// reports read.
type bdHit struct {
	id, kind, ps, link, campaign, device, referrer, visitor string
	ts, ingested                                            time.Time
	bot                                                     bool
}

// bdAttr is a stored attribution row (one computation of a conversion).
type bdAttr struct {
	conv, typ, source, user, order, outcome, ps, click string
	ts                                                 time.Time
	revRep                                             decimal.Decimal
	version                                            uint64
	cur                                                string // "": EUR, the reporting currency
	noFX                                               bool   // attribution found no rate: no reporting amount
}

// bdEnv stores the scenario's catalog and returns the report environment
// with its zones.
func bdEnv(t *testing.T, ctx context.Context, conn driver.Conn) *reports.Env {
	t.Helper()
	cat := catalog.NewStore(testenv.Postgres(t).Pool)
	for _, p := range []string{"alpha", "bravo"} {
		if _, err := cat.AddPartner(ctx, catalog.Partner{ID: p, Name: p}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	for _, ps := range bdPartnerships {
		if _, err := cat.AddPartnership(ctx, ps, "test"); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range bdLinks {
		l.Direction, l.URL = vocab.Inbound, "https://ours.example/"
		if _, err := cat.AddLink(ctx, l, "test"); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := cat.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	return &reports.Env{Conn: conn, Catalog: snap, Zones: map[string]*time.Location{"DE": berlin, "US": ny}}
}

func bdU8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func bdInsertHits(t *testing.T, ctx context.Context, env *reports.Env, hits []bdHit) {
	t.Helper()
	b, err := env.Conn.PrepareBatch(ctx, schema.Hits.InsertOnly("id", "ts", "kind", "link", "partner", "partnership", "direction", "campaign", "country", "visitor", "referrer_host", "device", "is_bot", "ingested_at", "sub_id"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, h := range hits {
		dir := "none"
		if h.link != "" {
			dir = "inbound"
		}
		if err := b.Append(h.id, h.ts, h.kind, h.link, env.Catalog.Partnerships[h.ps].Partner, h.ps, dir, h.campaign,
			"PL", h.visitor, h.referrer, h.device, bdU8(h.bot), h.ingested, bdSub(h)); err != nil {
			t.Fatalf("append hit %s: %v", h.id, err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func bdInsertAttrs(t *testing.T, ctx context.Context, env *reports.Env, attrs []bdAttr) {
	t.Helper()
	b, err := env.Conn.PrepareBatch(ctx, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "user_id", "order_id", "outcome", "partnership", "partner", "country", "direction", "click", "revenue", "currency", "revenue_rep", "rep_currency", "fx_rate", "fx_date", "computed_at", "version"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, a := range attrs {
		ps := env.Catalog.Partnerships[a.ps]
		cc := ps.Country
		if cc == "" {
			cc = "ZZ"
		}
		// As attribution writes it: rate 1 within EUR, 0 (and no
		// reporting amount) when it found no rate.
		cur, rep, rate := a.cur, a.revRep, decimal.NewFromInt(1)
		if cur == "" {
			cur = "EUR"
		}
		if a.noFX {
			rep, rate = decimal.Zero, decimal.Zero
		}
		if err := b.Append(a.conv, a.ts, a.typ, a.source, a.user, a.order, a.outcome, a.ps, ps.Partner, cc, "inbound", a.click,
			a.revRep, cur, rep, "EUR", rate, a.ts, a.ts, a.version); err != nil {
			t.Fatalf("append attribution %s: %v", a.conv, err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func (a bdAttr) convVersion() (string, uint64) { return a.conv, a.version }

func bdDay(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

// bdZone is the country's zone as the reports use it.
func bdZone(env *reports.Env, cc string) *time.Location {
	if z := env.Zones[cc]; z != nil {
		return z
	}
	return time.UTC
}

// bdBounds is [local midnight of from, local midnight after to).
func bdBounds(p reports.Params, loc *time.Location) (time.Time, time.Time) {
	a := time.Date(p.From.Year(), p.From.Month(), p.From.Day(), 0, 0, 0, 0, loc)
	b := time.Date(p.To.Year(), p.To.Month(), p.To.Day(), 0, 0, 0, 0, loc).AddDate(0, 0, 1)
	return a, b
}

func bdIn(ts, from, to time.Time) bool { return !ts.Before(from) && ts.Before(to) }

// bdScenario stores a random scenario: hits on every link around Europe's
// DST change (29 March 2026), with bots, views without clicks and hits
// without a partnership; attributions of some clicks (new and returning
// users, credited and outside-window purchases, refunds, conversions long
// after their click, stale computations that a later version overrides).
func bdScenario(t *testing.T) (*reports.Env, []bdHit, []bdAttr) {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	db := testenv.ClickHouse(t)
	env := bdEnv(t, ctx, db.Conn)
	r := rand.New(rand.NewPCG(20260329, 1))
	start := time.Date(2026, 3, 24, 0, 0, 0, 0, time.UTC)
	span := int64(10 * 24 * time.Hour)
	devices := []string{"other", "desktop", "mobile", "tablet", "bot"}
	referrers := []string{"", "news.example", "blog.example", "social.example"}
	var hits []bdHit
	for i := range 3000 {
		ts := start.Add(time.Duration(r.Int64N(span))).Truncate(time.Second)
		l := bdLinks[r.IntN(len(bdLinks))]
		h := bdHit{id: fmt.Sprintf("h%05d", i), kind: []string{"click", "click", "view"}[r.IntN(3)], ps: l.Partnership,
			link: l.Code, campaign: l.Campaign, device: devices[r.IntN(len(devices))], referrer: referrers[r.IntN(len(referrers))],
			visitor: fmt.Sprint("v", r.IntN(60)), ts: ts, bot: r.IntN(12) == 0}
		switch n := r.IntN(50); {
		case n == 0:
			h.ingested = ts.Add(-time.Duration(r.IntN(3)) * time.Second) // clock skew
		case n < 6:
			h.ingested = ts.Add(time.Duration(r.IntN(5000)) * time.Second) // a backlog
		default:
			h.ingested = ts.Add(time.Duration(r.IntN(20)) * time.Second)
		}
		if r.IntN(40) == 0 {
			h.kind = "conversion" // a pixel conversion on a link: not traffic
		}
		if r.IntN(60) == 0 {
			h.kind, h.ps, h.link, h.campaign = "conversion", "", "", "" // a pixel conversion without a link
		}
		hits = append(hits, h)
	}
	bdInsertHits(t, ctx, env, hits)

	var attrs []bdAttr
	n := 0
	next := func() string { n++; return fmt.Sprintf("c%05d", n) }
	for _, h := range hits {
		if h.kind != "click" || h.bot || r.IntN(5) >= 2 {
			continue
		}
		// Conversions happen from the click's second to 12 days later,
		// so some fall after any period ending with the data.
		at := func() time.Time {
			return h.ts.Add(time.Duration(r.Int64N(int64(12 * 24 * time.Hour)))).Truncate(time.Second)
		}
		user := fmt.Sprint("u", h.id)
		signup := bdAttr{conv: next(), typ: "signup", source: "ours", user: user, outcome: []string{"new_user", "new_user", "returning_user"}[r.IntN(3)],
			ps: h.ps, click: h.id, ts: at(), version: 2}
		attrs = append(attrs, signup)
		if r.IntN(4) == 0 {
			// An earlier computation said otherwise.
			stale := signup
			stale.version, stale.outcome = 1, map[string]string{"new_user": "returning_user", "returning_user": "new_user"}[signup.outcome]
			attrs = append(attrs, stale)
		}
		for k := range r.IntN(3) {
			order := fmt.Sprintf("o%s-%d", h.id, k)
			p := bdAttr{conv: next(), typ: "purchase", source: "ours", user: user, order: order, outcome: []string{"credited", "credited", "outside_window"}[r.IntN(3)],
				ps: h.ps, click: h.id, ts: at(), revRep: decimal.New(r.Int64N(1000000), -4), version: 2}
			attrs = append(attrs, p)
			if r.IntN(4) == 0 {
				stale := p
				stale.version, stale.revRep = 1, decimal.NewFromInt(100000)
				attrs = append(attrs, stale)
			}
			if r.IntN(5) == 0 {
				attrs = append(attrs, bdAttr{conv: next(), typ: "refund", source: "ours", user: user, order: order, outcome: "credited",
					ps: h.ps, click: h.id, ts: p.ts.Add(time.Hour), revRep: p.revRep.Neg().Div(decimal.NewFromInt(2)), version: 2})
			}
		}
	}
	bdInsertAttrs(t, ctx, env, attrs)
	return env, hits, attrs
}

// bdSub is the sub-id stored with h: a few labels, and none for some.
func bdSub(h bdHit) string {
	return []string{"", "nl-1", "nl-2", "banner"}[len(h.visitor)%4]
}

// bdValue is h's value of dimension by in zone loc.
func bdValue(h bdHit, by string, loc *time.Location) any {
	switch by {
	case reports.ByLink:
		return h.link
	case reports.ByCampaign:
		return h.campaign
	case reports.ByDevice:
		return h.device
	case reports.ByReferrer:
		return h.referrer
	case reports.BySubID:
		return bdSub(h)
	case reports.ByDay:
		l := h.ts.In(loc)
		return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC)
	}
	panic(by)
}

// bdReference computes the breakdown by brute force over the stored rows.
func bdReference(env *reports.Env, hits []bdHit, attrs []bdAttr, p reports.Params, by string) [][]any {
	ps := env.Catalog.Partnerships[p.Partnerships[0]]
	loc := bdZone(env, ps.Country)
	from, to := bdBounds(p, loc)
	type agg struct {
		views, clicks, nu uint64
		visitors          map[string]bool
		rev               decimal.Decimal
	}
	out := map[any]*agg{}
	get := func(v any) *agg {
		if out[v] == nil {
			out[v] = &agg{visitors: map[string]bool{}}
		}
		return out[v]
	}
	clickValue := map[string]any{}
	for _, h := range hits {
		if h.ps != ps.ID || !bdIn(h.ts, from, to) || (h.kind != "click" && h.kind != "view") {
			continue
		}
		v := bdValue(h, by, loc)
		if h.kind == "click" {
			clickValue[h.id] = v
		}
		if h.bot && !p.IncludeBots {
			continue
		}
		a := get(v)
		if h.kind == "view" {
			a.views++
		} else {
			a.clicks++
			a.visitors[h.visitor] = true
		}
	}
	for _, at := range latestVersions(attrs) {
		v, ok := clickValue[at.click]
		if !ok || at.ps != ps.ID || at.ts.Before(from) {
			continue
		}
		switch at.outcome {
		case "new_user":
			get(v).nu++
		case "credited":
			get(v).rev = get(v).rev.Add(at.revRep)
		}
	}
	var keys []any
	for k := range out {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if by == reports.ByDay {
			return keys[i].(time.Time).Before(keys[j].(time.Time))
		}
		a, b := out[keys[i]], out[keys[j]]
		if a.clicks != b.clicks {
			return a.clicks > b.clicks
		}
		return keys[i].(string) < keys[j].(string)
	})
	var rows [][]any
	for _, k := range keys {
		a := out[k]
		var ctr any
		if a.views > 0 {
			ctr = float64(a.clicks) / float64(a.views)
		}
		rows = append(rows, []any{k, a.views, a.clicks, uint64(len(a.visitors)), ctr, a.nu, a.rev})
	}
	return rows
}

// bdCell formats a cell exactly (every digit of a ratio, a decimal
// without its trailing zeros) with its Go type.
func bdCell(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case decimal.Decimal:
		return "dec:" + x.String()
	case time.Time:
		return "date:" + x.Format(time.RFC3339)
	case float64:
		return "f:" + strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return strconv.Quote(x)
	}
	return fmt.Sprintf("%T:%v", v, v)
}

func bdFormat(rows [][]any) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		cells := make([]string, len(r))
		for j, v := range r {
			cells[j] = bdCell(v)
		}
		out[i] = strings.Join(cells, " ")
	}
	return out
}

// bdCompare compares the rows in order, figure by figure.
func bdCompare(t *testing.T, got, want [][]any) {
	t.Helper()
	g, w := bdFormat(got), bdFormat(want)
	bad := 0
	for i := range max(len(g), len(w)) {
		var gs, ws string
		if i < len(g) {
			gs = g[i]
		}
		if i < len(w) {
			ws = w[i]
		}
		if gs != ws {
			if bad++; bad <= 5 {
				t.Errorf("row %d:\n got %s\nwant %s", i+1, gs, ws)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d rows differ", bad, max(len(g), len(w)))
	}
}

// TestBreakdownReportIsExact compares every figure of each dimension with
// a brute-force computation, with and without bots, for a partnership in
// Europe/Berlin across the DST change, one in America/New_York and one in
// UTC, as admin, partner and country manager.
func TestBreakdownReportIsExact(t *testing.T) {
	env, hits, attrs := bdScenario(t)
	ctx := testCtx(t, 60*time.Second)
	from, to := bdDay("2026-03-27"), bdDay("2026-03-30")
	type scope struct {
		name      string
		countries []string
		partner   string
		ps        string
	}
	scopes := []scope{
		{"admin de-alpha", nil, "", "de-alpha"},
		{"partner alpha us-alpha", nil, "alpha", "us-alpha"},
		{"DE manager de-bravo", []string{"DE"}, "", "de-bravo"},
		{"partner bravo fr-bravo", nil, "bravo", "fr-bravo"},
	}
	for _, sc := range scopes {
		for _, by := range reports.BreakdownDimensions {
			for _, bots := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/bots=%v", sc.name, by, bots), func(t *testing.T) {
					p := reports.Params{From: from, To: to, Countries: sc.countries, Partner: sc.partner, Partnerships: []string{sc.ps}, IncludeBots: bots}
					tab, err := reports.BreakdownReport(ctx, env, p, by)
					if err != nil {
						t.Fatal(err)
					}
					wantCols := append([]reports.Column{{Name: by, Kind: map[bool]string{true: reports.KindDate, false: reports.KindText}[by == reports.ByDay]}}, reports.BreakdownColumns...)
					if !reflect.DeepEqual(tab.Columns, wantCols) {
						t.Fatalf("columns %v, want %v", tab.Columns, wantCols)
					}
					want := bdReference(env, hits, attrs, p, by)
					if len(want) < 2 {
						t.Fatalf("the scenario gives only %d rows: too small to test", len(want))
					}
					bdCompare(t, tab.Rows, want)
					if by == reports.ByLink {
						// A partnership's breakdown shows only its own links.
						for _, r := range tab.Rows {
							code := r[0].(string)
							if l, _ := env.Catalog.Links.Get(code); l.Partnership != sc.ps {
								t.Errorf("link %q of partnership %q in the breakdown of %s", code, l.Partnership, sc.ps)
							}
						}
					}
				})
			}
		}
	}
}

// TestBreakdownReportScope: a partnership out of the reader's scope is
// ErrNoPartnership, the same as one that does not exist; none or two
// named is a ParamError too; an unknown dimension is a ParamError.
func TestBreakdownReportScope(t *testing.T) {
	db := testenv.ClickHouse(t)
	ctx := testCtx(t, 60*time.Second)
	env := bdEnv(t, ctx, db.Conn)
	from, to := bdDay("2026-03-27"), bdDay("2026-03-30")
	tests := []struct {
		name      string
		p         reports.Params
		by        string
		notFound  bool // errors.Is ErrNoPartnership
		paramErr  bool // errors.As *ParamError
		wantEmpty bool // no error, empty table
	}{
		{"partner asks for another's", reports.Params{Partner: "bravo", Partnerships: []string{"de-alpha"}}, reports.ByLink, true, false, false},
		{"manager asks for another country", reports.Params{Countries: []string{"FR"}, Partnerships: []string{"de-bravo"}}, reports.ByDay, true, false, false},
		{"no countries at all", reports.Params{Countries: []string{}, Partnerships: []string{"de-bravo"}}, reports.ByDay, true, false, false},
		{"unknown partnership", reports.Params{Partnerships: []string{"nope"}}, reports.ByDevice, true, false, false},
		{"none named", reports.Params{}, reports.ByLink, true, true, false},
		{"two named", reports.Params{Partnerships: []string{"de-alpha", "us-alpha"}}, reports.ByLink, true, true, false},
		{"unknown dimension", reports.Params{Partnerships: []string{"de-alpha"}}, "subid", false, true, false},
		{"own partnership", reports.Params{Partner: "alpha", Countries: []string{"DE"}, Partnerships: []string{"de-alpha"}}, reports.ByReferrer, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.p.From, tt.p.To = from, to
			tab, err := reports.BreakdownReport(ctx, env, tt.p, tt.by)
			if tt.wantEmpty {
				if err != nil || len(tab.Rows) != 0 {
					t.Fatalf("got %v, %v; want an empty table", tab, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %v, want an error", tab)
			}
			if errors.Is(err, reports.ErrNoPartnership) != tt.notFound {
				t.Errorf("errors.Is(%v, ErrNoPartnership) = %v", err, !tt.notFound)
			}
			var pe *reports.ParamError
			if errors.As(err, &pe) != tt.paramErr {
				t.Errorf("errors.As(%v, *ParamError) = %v", err, !tt.paramErr)
			}
		})
	}
}

// The fixture: testdata/breakdown_hits.csv and breakdown_attributions.csv,
// a hand-checked day of partnership de-alpha in Europe/Berlin across the
// DST change, with the expected report of each dimension in
// testdata/breakdown_expected_<by>[_bots].csv (as the CSV format writes
// it).
var (
	bdFixtureHitsHeader  = []string{"id", "ts", "kind", "partnership", "link", "campaign", "device", "referrer", "visitor", "is_bot"}
	bdFixtureAttrsHeader = []string{"conversion", "ts", "type", "outcome", "partnership", "click", "revenue_rep", "version"}
)

func bdTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.ParseInLocation(time.DateTime, s, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func bdFixture(t *testing.T) (*reports.Env, []bdHit, []bdAttr) {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	db := testenv.ClickHouse(t)
	env := bdEnv(t, ctx, db.Conn)
	var hits []bdHit
	for _, r := range readCSV(t, "breakdown_hits.csv", bdFixtureHitsHeader) {
		ts := bdTime(t, r[1])
		hits = append(hits, bdHit{id: r[0], ts: ts, ingested: ts, kind: r[2], ps: r[3], link: r[4], campaign: r[5], device: r[6],
			referrer: r[7], visitor: r[8], bot: r[9] == "1"})
	}
	var attrs []bdAttr
	for _, r := range readCSV(t, "breakdown_attributions.csv", bdFixtureAttrsHeader) {
		v, err := strconv.ParseUint(r[7], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		attrs = append(attrs, bdAttr{conv: r[0], ts: bdTime(t, r[1]), typ: r[2], outcome: r[3], ps: r[4], click: r[5],
			revRep: decimal.RequireFromString(r[6]), version: v, source: "ours", user: "u-" + r[5]})
	}
	bdInsertHits(t, ctx, env, hits)
	bdInsertAttrs(t, ctx, env, attrs)
	return env, hits, attrs
}

func TestBreakdownFixture(t *testing.T) {
	env, hits, attrs := bdFixture(t)
	ctx := testCtx(t, 60*time.Second)
	for _, tt := range []struct {
		by   string
		bots bool
		file string
	}{
		{reports.ByLink, false, "breakdown_expected_link.csv"},
		{reports.ByLink, true, "breakdown_expected_link_bots.csv"},
		{reports.ByCampaign, false, "breakdown_expected_campaign.csv"},
		{reports.ByDevice, false, "breakdown_expected_device.csv"},
		{reports.ByDevice, true, "breakdown_expected_device_bots.csv"},
		{reports.ByReferrer, false, "breakdown_expected_referrer.csv"},
		{reports.ByDay, false, "breakdown_expected_day.csv"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			p := reports.Params{From: bdDay("2026-03-28"), To: bdDay("2026-03-29"), Partnerships: []string{"de-alpha"}, IncludeBots: tt.bots}
			tab, err := reports.BreakdownReport(ctx, env, p, tt.by)
			if err != nil {
				t.Fatal(err)
			}
			bdCompare(t, tab.Rows, bdReference(env, hits, attrs, p, tt.by))
			checkCSVFile(t, tab, tt.file)
		})
	}
}
