package reports_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// insertHits fills the columns the fixture's hits hold.
var insertHits = schema.Hits.InsertOnly("id", "ts", "kind", "link", "partner", "partnership", "direction", "campaign", "country", "visitor", "referrer_host", "device", "is_bot", "event", "click_ref", "order_id", "amount", "currency", "ingested_at")

// fixtureHit is one row of testdata/partnerships_hits.csv.
type fixtureHit struct {
	ID          string
	TS          time.Time
	Kind        string // click, view, conversion
	Partnership string
	Partner     string
	Country     string
	Visitor     string
	Bot         bool
}

var hitsHeader = []string{"id", "ts", "kind", "partnership", "partner", "country", "visitor", "is_bot"}

func readHits(t *testing.T, name string) []fixtureHit {
	t.Helper()
	var out []fixtureHit
	ids := map[string]bool{}
	for i, r := range readCSV(t, name, hitsHeader) {
		ts, err := time.ParseInLocation(time.DateTime, r[1], time.UTC)
		if err != nil {
			t.Fatalf("%s line %d: %v", name, i+2, err)
		}
		if r[7] != "0" && r[7] != "1" {
			t.Fatalf("%s line %d: is_bot %q", name, i+2, r[7])
		}
		switch r[2] {
		case "click", "view", "conversion":
		default:
			t.Fatalf("%s line %d: kind %q", name, i+2, r[2])
		}
		if ids[r[0]] {
			t.Fatalf("%s line %d: duplicate id %q", name, i+2, r[0])
		}
		ids[r[0]] = true
		out = append(out, fixtureHit{ID: r[0], TS: ts, Kind: r[2], Partnership: r[3], Partner: r[4], Country: r[5], Visitor: r[6], Bot: r[7] == "1"})
	}
	return out
}

// visitorRow is one row of the visitors report, without its period and
// the partnership's country (the fixture's partnerships are all in DE).
type visitorRow struct {
	Partnership, Country, Partner string // Country: the visitor's
	Clicks, UniqueVisitors, Views uint64
}

// visitorFilter is what a case asks: the period, the bots, and one
// visitor country ("" for all), picked from the report's rows.
type visitorFilter struct {
	From, To    time.Time
	Country     string
	IncludeBots bool
}

var expectedHeader = []string{"partnership", "country", "partner", "clicks", "unique_visitors", "views"}

func readExpected(t *testing.T, name string) []visitorRow {
	t.Helper()
	var out []visitorRow
	for i, r := range readCSV(t, name, expectedHeader) {
		var n [3]uint64
		for j := range n {
			v, err := strconv.ParseUint(r[3+j], 10, 64)
			if err != nil {
				t.Fatalf("%s line %d: %v", name, i+2, err)
			}
			n[j] = v
		}
		out = append(out, visitorRow{Partnership: r[0], Country: r[1], Partner: r[2], Clicks: n[0], UniqueVisitors: n[1], Views: n[2]})
	}
	return out
}

// loadHits writes hits into the hits table the way the ingester does,
// with zero values in the columns the report does not read.
func loadHits(t *testing.T, ctx context.Context, conn driver.Conn, hits []fixtureHit) {
	t.Helper()
	batch, err := conn.PrepareBatch(ctx, insertHits)
	if err != nil {
		t.Fatalf("PrepareBatch: %v", err)
	}
	defer batch.Close()
	now := testenv.Now().UTC()
	for _, h := range hits {
		bot := uint8(0)
		if h.Bot {
			bot = 1
		}
		if err := batch.Append(h.ID, h.TS, h.Kind, "", h.Partner, h.Partnership, "inbound", "",
			h.Country, h.Visitor, "", "desktop", bot, "", "", "", decimal.Zero, "", now); err != nil {
			t.Fatalf("Append(%s): %v", h.ID, err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM hits").Scan(&n); err != nil {
		t.Fatalf("count hits: %v", err)
	}
	if n != uint64(len(hits)) {
		t.Fatalf("hits table has %d rows, inserted %d", n, len(hits))
	}
}

// reference computes the partnerships report by brute force: the hits with
// from <= ts < to+1 day (UTC days), clicks and views with a partnership,
// bots only with IncludeBots, one row per (partnership, country) with at
// least one counted click or view, sorted.
func reference(hits []fixtureHit, f visitorFilter) []visitorRow {
	from := time.Date(f.From.Year(), f.From.Month(), f.From.Day(), 0, 0, 0, 0, time.UTC)
	to := time.Date(f.To.Year(), f.To.Month(), f.To.Day()+1, 0, 0, 0, 0, time.UTC)
	type key struct{ partnership, country string }
	type acc struct {
		partner      string
		clicks, view uint64
		visitors     map[string]bool
	}
	groups := map[key]*acc{}
	for _, h := range hits {
		if h.TS.Before(from) || !h.TS.Before(to) || h.Partnership == "" {
			continue
		}
		if f.Country != "" && h.Country != f.Country {
			continue
		}
		if h.Kind != "click" && h.Kind != "view" {
			continue
		}
		k := key{h.Partnership, h.Country}
		g := groups[k]
		if g == nil {
			g = &acc{partner: h.Partner, visitors: map[string]bool{}}
			groups[k] = g
		}
		if h.Bot && !f.IncludeBots {
			continue
		}
		if h.Kind == "click" {
			g.clicks++
			g.visitors[h.Visitor] = true
		} else {
			g.view++
		}
	}
	var out []visitorRow
	for k, g := range groups {
		if g.clicks+g.view == 0 {
			continue
		}
		out = append(out, visitorRow{Partnership: k.partnership, Country: k.country, Partner: g.partner,
			Clicks: g.clicks, UniqueVisitors: uint64(len(g.visitors)), Views: g.view})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Partnership != out[j].Partnership {
			return out[i].Partnership < out[j].Partnership
		}
		return out[i].Country < out[j].Country
	})
	return out
}

// visitors runs the visitors report over the whole period as one, on a
// catalog holding every partnership of hits (in DE, its zone UTC), and
// keeps the rows of f's visitor country.
func visitors(ctx context.Context, conn driver.Conn, hits []fixtureHit, f visitorFilter) ([]visitorRow, error) {
	snap := &catalog.Snapshot{Partnerships: map[string]catalog.Partnership{}}
	for _, h := range hits {
		if _, ok := snap.Partnerships[h.Partnership]; !ok && h.Partnership != "" {
			snap.Partnerships[h.Partnership] = catalog.Partnership{ID: h.Partnership, Partner: h.Partner, Country: "DE"}
		}
	}
	env := &reports.Env{Conn: conn, Catalog: snap}
	tab, err := reports.VisitorsReport(ctx, env, reports.Params{From: f.From, To: f.To, IncludeBots: f.IncludeBots})
	if err != nil {
		return nil, err
	}
	var out []visitorRow
	for _, r := range tab.Rows {
		if f.Country != "" && r[4] != f.Country {
			continue
		}
		out = append(out, visitorRow{Partnership: r[1].(string), Partner: r[2].(string), Country: r[4].(string),
			Clicks: r[5].(uint64), UniqueVisitors: r[6].(uint64), Views: r[7].(uint64)})
	}
	return out, nil
}

func compareRows(t *testing.T, what string, got, want []visitorRow) {
	t.Helper()
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			t.Errorf("%s: row %d missing, want %+v", what, i+1, want[i])
		case i >= len(want):
			t.Errorf("%s: row %d = %+v, want no such row", what, i+1, got[i])
		case got[i] != want[i]:
			t.Errorf("%s: row %d = %+v, want %+v", what, i+1, got[i], want[i])
		}
	}
}

func day(s string) time.Time {
	d, err := time.ParseInLocation(time.DateOnly, s, time.UTC)
	if err != nil {
		panic(err)
	}
	return d
}

func TestPartnershipsFixture(t *testing.T) {
	hits := readHits(t, "partnerships_hits.csv")
	db := testenv.ClickHouse(t)
	ctx := testCtx(t, 20*time.Second)
	loadHits(t, ctx, db.Conn, hits)

	period := visitorFilter{From: day("2024-03-10"), To: day("2024-03-12")}
	withBots := period
	withBots.IncludeBots = true
	de := period
	de.Country = "DE"
	tests := []struct {
		name     string
		filter   visitorFilter
		expected string // file in testdata; "" checks against the Go reference only
	}{
		{"period", period, "partnerships_expected.csv"},
		{"include_bots", withBots, "partnerships_expected_bots.csv"},
		{"country DE", de, "partnerships_expected_de.csv"},
		{"country FR with bots", visitorFilter{From: day("2024-03-10"), To: day("2024-03-12"), Country: "FR", IncludeBots: true}, ""},
		{"country without hits", visitorFilter{From: day("2024-03-10"), To: day("2024-03-12"), Country: "US"}, ""},
		{"first edge day only", visitorFilter{From: day("2024-03-10"), To: day("2024-03-10")}, ""},
		{"last edge day only", visitorFilter{From: day("2024-03-12"), To: day("2024-03-12")}, ""},
		{"day before the period", visitorFilter{From: day("2024-03-09"), To: day("2024-03-09"), IncludeBots: true}, ""},
		{"day after the period", visitorFilter{From: day("2024-03-13"), To: day("2024-03-13")}, ""},
		{"times of day are ignored", visitorFilter{From: day("2024-03-10").Add(15 * time.Hour), To: day("2024-03-12").Add(time.Minute)}, "partnerships_expected.csv"},
		{"everything", visitorFilter{From: day("2024-01-01"), To: day("2024-12-31"), IncludeBots: true}, ""},
		{"no hits in the period", visitorFilter{From: day("2023-03-10"), To: day("2023-03-12")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := visitors(ctx, db.Conn, hits, tt.filter)
			if err != nil {
				t.Fatalf("Partnerships: %v", err)
			}
			ref := reference(hits, tt.filter)
			if tt.expected != "" {
				want := readExpected(t, tt.expected)
				// The hand-written file and the brute force must agree, or
				// one of them is wrong.
				compareRows(t, tt.expected+" vs Go reference", want, ref)
				compareRows(t, "report vs "+tt.expected, got, want)
			}
			compareRows(t, "report vs Go reference", got, ref)
		})
	}
}

// TestPartnershipsFixtureEdges pins what the fixture is meant to contain,
// so an edit of the CSV cannot quietly drop the edge cases.
func TestPartnershipsFixtureEdges(t *testing.T) {
	hits := readHits(t, "partnerships_hits.csv")
	from, to := day("2024-03-10"), day("2024-03-12")
	count := func(pred func(h fixtureHit) bool) int {
		n := 0
		for _, h := range hits {
			if pred(h) {
				n++
			}
		}
		return n
	}
	checks := []struct {
		what string
		n    int
	}{
		{"hits at the day before from, 23:59:59", count(func(h fixtureHit) bool { return h.TS.Equal(from.Add(-time.Second)) })},
		{"hits at from, 00:00:00", count(func(h fixtureHit) bool { return h.TS.Equal(from) })},
		{"hits at to, 23:59:59", count(func(h fixtureHit) bool { return h.TS.Equal(to.Add(24*time.Hour - time.Second)) })},
		{"hits at the day after to, 00:00:00", count(func(h fixtureHit) bool { return h.TS.Equal(to.Add(24 * time.Hour)) })},
		{"bot clicks", count(func(h fixtureHit) bool { return h.Bot && h.Kind == "click" })},
		{"bot views", count(func(h fixtureHit) bool { return h.Bot && h.Kind == "view" })},
		{"conversions", count(func(h fixtureHit) bool { return h.Kind == "conversion" })},
		{"hits without a partnership", count(func(h fixtureHit) bool { return h.Partnership == "" })},
	}
	for _, c := range checks {
		if c.n == 0 {
			t.Errorf("fixture has no %s", c.what)
		}
	}
	partnerships, countries := map[string]bool{}, map[string]bool{}
	for _, h := range hits {
		if h.Partnership != "" {
			partnerships[h.Partnership] = true
		}
		countries[h.Country] = true
	}
	if len(partnerships) != 3 || len(countries) != 3 || len(hits) < 40 {
		t.Errorf("fixture has %d hits, %d partnerships, %d countries; want >= 40, 3, 3", len(hits), len(partnerships), len(countries))
	}
}

func TestPartnershipsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(20240501, 7))
	base := day("2024-05-01")
	partnerOf := map[string]string{"p-alpha-de": "alpha", "p-alpha-fr": "alpha", "p-beta": "beta", "p-gamma": "gamma", "": ""}
	partnerships := []string{"p-alpha-de", "p-alpha-fr", "p-beta", "p-gamma", ""}
	countries := []string{"DE", "FR", "AT", "GB", "ZZ"}
	kinds := []string{"click", "click", "click", "click", "click", "click", "view", "view", "view", "conversion"}
	hits := make([]fixtureHit, 5000)
	for i := range hits {
		var ts time.Time
		if rng.IntN(10) == 0 {
			// On a day boundary, or one second before it.
			ts = base.AddDate(0, 0, rng.IntN(14)-2).Add(-time.Duration(rng.IntN(2)) * time.Second)
		} else {
			ts = base.AddDate(0, 0, -2).Add(time.Duration(rng.IntN(14*86400)) * time.Second)
		}
		ps := partnerships[rng.IntN(len(partnerships))]
		hits[i] = fixtureHit{
			ID:          fmt.Sprintf("r%05d", i),
			TS:          ts,
			Kind:        kinds[rng.IntN(len(kinds))],
			Partnership: ps,
			Partner:     partnerOf[ps],
			Country:     countries[rng.IntN(len(countries))],
			Visitor:     fmt.Sprintf("v%03d", rng.IntN(200)),
			Bot:         rng.IntN(7) == 0,
		}
	}
	db := testenv.ClickHouse(t)
	ctx := testCtx(t, 20*time.Second)
	loadHits(t, ctx, db.Conn, hits)

	filters := []visitorFilter{
		{From: day("2024-05-03"), To: day("2024-05-08")},
		{From: day("2024-05-03"), To: day("2024-05-08"), IncludeBots: true},
		{From: day("2024-05-03"), To: day("2024-05-08"), Country: "DE"},
		{From: day("2024-05-03"), To: day("2024-05-08"), Country: "ZZ", IncludeBots: true},
		{From: day("2024-05-05"), To: day("2024-05-05")},
		{From: day("2024-04-29"), To: day("2024-04-29"), IncludeBots: true},
		{From: day("2024-04-01"), To: day("2024-06-30")},
		{From: day("2024-04-01"), To: day("2024-06-30"), IncludeBots: true},
	}
	for _, f := range filters {
		name := fmt.Sprintf("%s..%s country=%q bots=%v", f.From.Format(time.DateOnly), f.To.Format(time.DateOnly), f.Country, f.IncludeBots)
		t.Run(name, func(t *testing.T) {
			got, err := visitors(ctx, db.Conn, hits, f)
			if err != nil {
				t.Fatalf("Partnerships: %v", err)
			}
			want := reference(hits, f)
			if len(want) == 0 {
				t.Fatalf("the reference is empty: the random data does not exercise this filter")
			}
			compareRows(t, "report vs Go reference", got, want)
		})
	}
}
