package gen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

var testStart = time.Date(2026, 3, 25, 0, 0, 0, 0, time.UTC) // spans a month end

func smallConfig(seed int64) Config {
	return Config{Hits: 20_000, Partnerships: 20, Countries: 5, Days: 10, Start: testStart, Seed: seed,
		Batch: 7_000, ConversionRate: 0.05, Attribute: true}
}

func TestMarkets(t *testing.T) {
	if len(markets) != MaxCountries {
		t.Fatalf("%d markets, want %d", len(markets), MaxCountries)
	}
	seen := map[string]bool{}
	for _, m := range markets {
		if err := catalog.ValidCountry("country", m.Code); err != nil {
			t.Error(err)
		}
		if seen[m.Code] {
			t.Errorf("%s twice", m.Code)
		}
		seen[m.Code] = true
	}
}

func TestPlan(t *testing.T) {
	cfg := Config{Hits: 1_000_003, Partnerships: 2000, Countries: 60, Days: 365, Start: testStart, Seed: 3}
	cfg.defaults()
	p := newPlan(cfg)
	var sum int64
	for _, u := range p.units() {
		if u.rows > unitRows || u.rows < 1 {
			t.Fatalf("unit %+v", u)
		}
		sum += int64(u.rows)
	}
	if sum != cfg.Hits {
		t.Fatalf("units hold %d hits, want %d", sum, cfg.Hits)
	}
	perCountry := map[string]int{}
	partnerCountries := map[string]bool{}
	for _, ps := range p.partnerships {
		perCountry[ps.Country]++
		if partnerCountries[ps.Partner+ps.Country] {
			t.Fatalf("partner %s has two partnerships in %s", ps.Partner, ps.Country)
		}
		partnerCountries[ps.Partner+ps.Country] = true
		if len(ps.Links) < linksMin || len(ps.Links) > linksMax {
			t.Fatalf("%s has %d links", ps.ID, len(ps.Links))
		}
		tt := ps.Terms
		tt.Defaults()
		if err := tt.Validate(); err != nil {
			t.Fatalf("%s terms: %v", ps.ID, err)
		}
	}
	if len(perCountry) != 60 {
		t.Fatalf("%d countries have partnerships", len(perCountry))
	}
	// Skewed: the top 5 countries hold about half the partnerships.
	counts := make([]int, 0, len(perCountry))
	for _, n := range perCountry {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	slices.Reverse(counts)
	top := counts[0] + counts[1] + counts[2] + counts[3] + counts[4]
	if top < 800 {
		t.Errorf("top 5 countries hold %d of 2000 partnerships; want a skew", top)
	}
	t.Logf("partnerships per country, largest first: %v", counts[:10])
}

func TestGenPure(t *testing.T) {
	cfg := smallConfig(5)
	cfg.defaults()
	p := newPlan(cfg)
	u := p.units()[3]
	var a, b unitOut
	p.gen(u, &a)
	p.gen(u, &b)
	if !slices.Equal(a.hits.id, b.hits.id) || !slices.Equal(a.hits.visitor, b.hits.visitor) || len(a.convs) != len(b.convs) {
		t.Fatal("the same unit gave different rows")
	}
	for i, id := range a.hits.id {
		at, err := ids.Parse(id)
		if err != nil {
			t.Fatalf("id %q: %v", id, err)
		}
		if at.Unix() != a.hits.ts[i] {
			t.Fatalf("id %s says %v, ts is %v", id, at, time.Unix(a.hits.ts[i], 0).UTC())
		}
		if a.hits.bot[i] == 0 && (len(a.hits.visitor[i]) != 22 || len(a.hits.fp[i]) != 32) {
			t.Fatalf("visitor %q fingerprint %q", a.hits.visitor[i], a.hits.fp[i])
		}
	}
	for _, c := range a.convs {
		if !ids.Valid(c.id) || c.ts >= p.end.Unix() || c.received < c.ts {
			t.Fatalf("conversion %+v", c)
		}
	}
}

// query returns one row of uint64s.
func query(t *testing.T, conn driver.Conn, q string, args ...any) []uint64 {
	t.Helper()
	rows, err := conn.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("%s: no row", q)
	}
	n := len(rows.Columns())
	out := make([]uint64, n)
	ptrs := make([]any, n)
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// pgQuery returns one row of uint64s from the catalog in PostgreSQL.
func pgQuery(t *testing.T, pg *testenv.PG, q string, args ...any) []uint64 {
	t.Helper()
	rows, err := pg.Pool.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("%s: no row (%v)", q, rows.Err())
	}
	n := len(rows.FieldDescriptions())
	out := make([]uint64, n)
	ptrs := make([]any, n)
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// pgSet returns the rows of q (text columns), each joined with "|".
func pgSet(t *testing.T, pg *testenv.PG, q string) map[string]bool {
	t.Helper()
	rows, err := pg.Pool.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	set := map[string]bool{}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = v.(string)
		}
		set[strings.Join(parts, "|")] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return set
}

// unknownHits counts the hits whose columns (joined with "|") are not in
// known.
func unknownHits(t *testing.T, conn driver.Conn, columns string, known map[string]bool) uint64 {
	t.Helper()
	q := `SELECT arrayStringConcat([` + columns + `], '|') AS k, count() FROM hits GROUP BY k`
	rows, err := conn.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var n uint64
	for rows.Next() {
		var k string
		var c uint64
		if err := rows.Scan(&k, &c); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if !known[k] {
			n += c
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func run(t *testing.T, db *testenv.DB, pg *testenv.PG, cfg Config) Summary {
	t.Helper()
	var progress bytes.Buffer
	cfg.Progress, cfg.ProgressEvery = &progress, 50*time.Millisecond
	sum, err := Run(context.Background(), db.Conn, catalog.NewStore(pg.Pool), cfg)
	t.Log(strings.TrimSpace(progress.String()))
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestRun(t *testing.T) {
	db, pg := testenv.ClickHouse(t), testenv.Postgres(t)
	cfg := smallConfig(7)
	sum := run(t, db, pg, cfg)
	t.Logf("%+v", sum)
	c := db.Conn

	got := query(t, c, `SELECT count(), countIf(kind = 'click'), countIf(kind = 'view'), countIf(is_bot = 1),
 uniqExact(toDate(ts)), toUInt64(min(ts) >= ?), toUInt64(max(ts) < ?), uniqExact(partnership) FROM hits`,
		cfg.Start, cfg.Start.AddDate(0, 0, cfg.Days))
	if got[0] != uint64(cfg.Hits) || got[0] != uint64(sum.Hits) {
		t.Errorf("%d hits stored, summary %d, want %d", got[0], sum.Hits, cfg.Hits)
	}
	if got[1] != uint64(sum.Clicks) || got[2] != uint64(sum.Views) || got[3] != uint64(sum.Bots) {
		t.Errorf("clicks/views/bots stored %v, summary %+v", got[1:4], sum)
	}
	if r := float64(got[2]) / float64(got[1]); r < 2.7 || r > 3.3 {
		t.Errorf("views per click %.2f, want about 3", r)
	}
	if r := float64(got[3]) / float64(got[0]); r < 0.04 || r > 0.06 {
		t.Errorf("bot share %.3f, want about 0.05", r)
	}
	if got[4] != uint64(cfg.Days) || got[5] != 1 || got[6] != 1 {
		t.Errorf("days %d, in period %d %d", got[4], got[5], got[6])
	}
	got = pgQuery(t, pg, `SELECT count(*), count(DISTINCT country), count(DISTINCT partner) FROM partnerships`)
	if got[0] != uint64(cfg.Partnerships) || got[1] != uint64(cfg.Countries) || got[2] != uint64(sum.Partners) {
		t.Errorf("partnerships %d in %d countries with %d partners", got[0], got[1], got[2])
	}
	got = pgQuery(t, pg, `SELECT (SELECT count(*) FROM links), (SELECT count(*) FROM partnership_terms), (SELECT count(*) FROM partners),
 (SELECT count(*) FROM audit_log WHERE actor = 'gen')`)
	if got[0] != uint64(sum.Links) || got[1] != uint64(cfg.Partnerships) || got[2] != uint64(sum.Partners) || got[3] == 0 {
		t.Errorf("links %d (summary %d), terms %d, partners %d, audit entries %d", got[0], sum.Links, got[1], got[2], got[3])
	}

	// Every hit names a stored partnership, partner and link of the same
	// partnership.
	// The catalog is in PostgreSQL, the hits in ClickHouse.
	got = []uint64{
		unknownHits(t, c, "partnership", pgSet(t, pg, `SELECT id FROM partnerships`)),
		unknownHits(t, c, "link, partnership, partner", pgSet(t, pg, `SELECT code, partnership, partner FROM links`)),
	}
	if got[0] != 0 || got[1] != 0 {
		t.Errorf("%d hits with an unknown partnership, %d with an unknown link", got[0], got[1])
	}

	// Conversions name stored clicks: ours inbound, partners' outbound.
	got = query(t, c, `SELECT count(), countIf(click_id != ''),
 countIf(click_id != '' AND source = 'ours' AND click_id NOT IN (SELECT id FROM hits WHERE kind = 'click' AND direction = 'inbound' AND is_bot = 0)),
 countIf(click_id != '' AND source != 'ours' AND click_id NOT IN (SELECT id FROM hits WHERE kind = 'click' AND direction = 'outbound' AND is_bot = 0)),
 countIf(source = 'ours' AND click_id = '' AND visitor NOT IN (SELECT visitor FROM hits WHERE kind = 'click')),
 countIf(type = 'refund'), countIf(duplicate = 1), countIf(existing = 1), countIf(source LIKE 'partner:%'),
 countIf(type = 'purchase' AND (amount <= 0 OR amount * 100 != floor(amount * 100))),
 countIf(ts >= ?)
FROM conversions`, cfg.Start.AddDate(0, 0, cfg.Days))
	if got[0] != uint64(sum.Conversions) || got[0] == 0 {
		t.Errorf("%d conversions stored, summary %d", got[0], sum.Conversions)
	}
	if got[1] == 0 || got[2] != 0 || got[3] != 0 || got[4] != 0 {
		t.Errorf("%d conversions name a click; %d ours and %d partners' name no stored click of their direction; %d ours without click id have an unknown visitor", got[1], got[2], got[3], got[4])
	}
	if got[5] == 0 || got[6] == 0 || got[7] == 0 || got[8] == 0 || got[9] != 0 || got[10] != 0 {
		t.Errorf("refunds %d, duplicates %d, existing %d, postbacks %d, bad amounts %d, after the period %d", got[5], got[6], got[7], got[8], got[9], got[10])
	}
	// Signups per human click about the conversion rate (both ways).
	signups := query(t, c, `SELECT countIf(type = 'signup' AND duplicate = 0) FROM conversions`)[0]
	humanClicks := query(t, c, `SELECT count() FROM hits WHERE kind = 'click' AND is_bot = 0`)[0]
	if r := float64(signups) / float64(humanClicks); r < 0.03 || r > 0.06 {
		t.Errorf("signups per human click %.3f, want about %.2f", r, cfg.ConversionRate)
	}

	// Zipf: the top partnership gets far more hits than the median one.
	rows, err := c.Query(context.Background(), `SELECT count() AS n FROM hits GROUP BY partnership ORDER BY n DESC`)
	if err != nil {
		t.Fatal(err)
	}
	var per []uint64
	for rows.Next() {
		var n uint64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		per = append(per, n)
	}
	rows.Close()
	if len(per) != cfg.Partnerships || per[0] < 5*per[len(per)/2] {
		t.Errorf("hits per partnership %v: want every partnership, the top one >= 5x the median", per)
	}

	// Every conversion has exactly one attribution, and the generated
	// journeys are mostly credited.
	got = query(t, c, `SELECT count(), uniqExact(conversion),
 countIf(conversion NOT IN (SELECT id FROM conversions)),
 countIf(outcome = 'new_user'), countIf(outcome = 'credited'), countIf(outcome = 'duplicate'), countIf(outcome = 'returning_user'),
 countIf(direction = 'outbound' AND outcome IN ('new_user', 'credited'))
FROM attributions FINAL`)
	if got[0] != uint64(sum.Conversions) || got[1] != got[0] || got[2] != 0 || uint64(sum.Attributions) != got[0] {
		t.Errorf("attributions %d (%d conversions, summary %d), unknown conversions %d", got[0], sum.Conversions, sum.Attributions, got[2])
	}
	if got[3] == 0 || got[4] == 0 || got[5] == 0 || got[6] == 0 || got[7] == 0 {
		t.Errorf("outcomes new_user %d, credited %d, duplicate %d, returning_user %d, outbound credited %d", got[3], got[4], got[5], got[6], got[7])
	}
	missing := query(t, c, `SELECT count() FROM conversions WHERE id NOT IN (SELECT conversion FROM attributions)`)[0]
	if missing != 0 {
		t.Errorf("%d conversions without attribution", missing)
	}

	// Another seed adds to the same database without collisions; the same
	// seed again is refused.
	other := smallConfig(8)
	other.Attribute = false
	run(t, db, pg, other)
	got = query(t, c, `SELECT count(), uniqExact(id), uniqExact(partnership) FROM hits`)
	if got[0] != 2*uint64(cfg.Hits) || got[1] != got[0] || got[2] != 2*uint64(cfg.Partnerships) {
		t.Errorf("after a second seed: %d hits, %d ids, %d partnerships", got[0], got[1], got[2])
	}
	if _, err := Run(context.Background(), db.Conn, catalog.NewStore(pg.Pool), cfg); !errors.Is(err, ErrSeedUsed) {
		t.Errorf("same seed again: %v, want ErrSeedUsed", err)
	}
}

const (
	hitsChecksum = `SELECT count(), sum(cityHash64(id, toUnixTimestamp(ts), toString(kind), link, partner, partnership,
 toString(direction), campaign, country, visitor, referrer_host, toString(device), is_bot, event, click_ref, order_id,
 toString(amount), currency, toUnixTimestamp(ingested_at), fallback, fingerprint)) FROM hits`
	convsChecksum = `SELECT count(), sum(cityHash64(id, toUnixTimestamp(ts), toUnixTimestamp(received_at), toString(type), source,
 user_id, order_id, click_id, visitor, fingerprint, existing, duplicate, toString(amount), currency, link, partner,
 partnership, country, toUnixTimestamp(ingested_at))) FROM conversions`
	attrChecksum = `SELECT count(), sum(cityHash64(conversion, toString(outcome), partnership, partner, country, toString(direction),
 click, model, match, terms_version, arrayStringConcat(overlaps, ','), toString(revenue), currency)) FROM attributions FINAL`
)

func TestDeterministic(t *testing.T) {
	a, b := testenv.ClickHouse(t), testenv.ClickHouse(t)
	cfg := smallConfig(11)
	run(t, a, testenv.Postgres(t), cfg)
	// None of these changes the rows: batches, goroutines and attribution
	// runs (10 runs of one day instead of one of ten).
	cfg.Batch, cfg.Workers, cfg.Inserts, cfg.AttributeChunk = 3_000, 1, 1, 1
	run(t, b, testenv.Postgres(t), cfg)
	for _, q := range []string{hitsChecksum, convsChecksum, attrChecksum} {
		x, y := query(t, a.Conn, q), query(t, b.Conn, q)
		if !slices.Equal(x, y) || x[0] == 0 {
			t.Errorf("%s\n  first run %v, second %v", q, x, y)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{
		{Hits: -1, Partnerships: 5, Countries: 5, Days: 1, Start: testStart},
		{Hits: 1, Partnerships: 4, Countries: 5, Days: 1, Start: testStart},
		{Hits: 1, Partnerships: 5, Countries: 61, Days: 1, Start: testStart},
		{Hits: 1, Partnerships: 5, Countries: 5, Days: 0, Start: testStart},
		{Hits: 1, Partnerships: 5, Countries: 5, Days: 1, Start: testStart, ConversionRate: 1.5},
		{Hits: 1, Partnerships: 5, Countries: 5, Days: 1, Start: testStart, Batch: MaxBatch + 1},
		{Hits: 1, Partnerships: 5, Countries: 5, Days: 1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	ok := Config{Hits: 1, Partnerships: 5, Countries: 5, Days: 1, Start: testStart}
	if err := ok.Validate(); err != nil {
		t.Error(err)
	}
}

// BenchmarkGenerate measures row generation alone (no ClickHouse): one
// unit of the 100M-hit, 2000-partnership, 60-country, 365-day run.
func BenchmarkGenerate(b *testing.B) {
	cfg := Config{Hits: 100_000_000, Partnerships: 2000, Countries: 60, Days: 365, Start: testStart, Seed: 1, ConversionRate: DefaultConversionRate}
	cfg.defaults()
	p := newPlan(cfg)
	units := p.units()
	var out unitOut
	rows := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		u := units[i%len(units)]
		p.gen(u, &out)
		rows += u.rows + len(out.convs)
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkColumns measures turning a batch into insert columns and
// appending them to a clickhouse-go batch (no server round trip).
func BenchmarkColumns(b *testing.B) {
	cfg := Config{Hits: 100_000_000, Partnerships: 2000, Countries: 60, Days: 365, Start: testStart, Seed: 1, ConversionRate: DefaultConversionRate}
	cfg.defaults()
	p := newPlan(cfg)
	var out unitOut
	p.gen(p.units()[0], &out)
	consts := newConstCols(out.hits.len())
	db := testenv.ClickHouse(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		batch, err := db.Conn.PrepareBatch(ctx, schema.Hits.Insert())
		if err != nil {
			b.Fatal(err)
		}
		for i, col := range consts.hitColumns(&out.hits) {
			if err := batch.Column(i).Append(col); err != nil {
				b.Fatal(err)
			}
		}
		_ = batch.Abort()
	}
	b.ReportMetric(float64(out.hits.len()*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestCatalogBulkMatchesStore writes the same catalog with catalog.Store
// one change at a time and in bulk: the catalog read back and the audit
// entries must be the same.
func TestCatalogBulkMatchesStore(t *testing.T) {
	a, b := testenv.Postgres(t), testenv.Postgres(t)
	cfg := smallConfig(13)
	cfg.defaults()
	p := newPlan(cfg)
	ctx := context.Background()
	nop := func(string, int, time.Duration) {}
	na, err := writeCatalog(ctx, catalog.NewStore(a.Pool), p, true, nop)
	if err != nil {
		t.Fatal(err)
	}
	nb, err := writeCatalog(ctx, catalog.NewStore(b.Pool), p, false, nop)
	if err != nil {
		t.Fatal(err)
	}
	if na != nb {
		t.Fatalf("counts: store %+v, bulk %+v", na, nb)
	}
	sa, err := catalog.NewStore(a.Pool).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := catalog.NewStore(b.Pool).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eq := func(what string, x, y any) {
		t.Helper()
		jx, _ := json.Marshal(x)
		jy, _ := json.Marshal(y)
		if string(jx) != string(jy) {
			t.Errorf("%s differ:\nstore %s\nbulk  %s", what, jx, jy)
		}
	}
	eq("partners", sa.Partners, sb.Partners)
	eq("partnerships", sa.Partnerships, sb.Partnerships)
	eq("links", sa.Links, sb.Links)
	for id, vs := range sa.Terms {
		ws := sb.Terms[id]
		if len(vs) != 1 || len(ws) != 1 {
			t.Fatalf("terms of %s: %d and %d versions", id, len(vs), len(ws))
		}
		vs[0].CreatedAt, ws[0].CreatedAt = time.Time{}, time.Time{}
		eq("terms of "+id, vs[0], ws[0])
	}
	if sa.Links.Len() != na.Links || len(sa.Terms) != na.Terms {
		t.Errorf("read back %d links, %d terms; wrote %+v", sa.Links.Len(), len(sa.Terms), na)
	}
	audit := func(db *testenv.PG) []string {
		t.Helper()
		entries, err := catalog.NewStore(db.Pool).AuditLog(ctx, catalog.AuditFilter{Actor: Actor, Limit: catalog.MaxAuditLimit})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			after := e.After
			if e.Action == catalog.ActionSetTerms {
				var x catalog.Terms
				if err := json.Unmarshal([]byte(after), &x); err != nil {
					t.Fatal(err)
				}
				x.CreatedAt = time.Time{}
				j, _ := json.Marshal(x)
				after = string(j)
			}
			out = append(out, strings.Join([]string{e.Action, e.Entity, e.EntityID, e.Country, e.Before, after}, "|"))
		}
		slices.Sort(out)
		return out
	}
	if x, y := audit(a), audit(b); !slices.Equal(x, y) {
		t.Errorf("audit entries differ: store %d, bulk %d\n%v\n%v", len(x), len(y), x[:min(3, len(x))], y[:min(3, len(y))])
	}
}
