package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/app"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
	"github.com/xpromo/xpromo/tracker/conversion"
)

// scanStrings returns, for each needle found, the table.column of the
// test database holding it: every String, FixedString and array of them
// in every table. Aggregate states (hits_hourly's visitor hashes) hold no
// text and are left out. The catalog's PostgreSQL (pgOf) is scanned too:
// every text column and array of text, named pg:table.column, for the
// needles a text can hold (valid UTF-8 without NUL).
func scanStrings(t *testing.T, db *testenv.DB, needles ...string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Conn.Query(ctx, `SELECT c.table, c.name, c.type FROM system.columns AS c
WHERE c.database = currentDatabase() AND c.type LIKE '%String%' AND c.type NOT LIKE 'AggregateFunction%'
  AND c.table IN (SELECT name FROM system.tables WHERE database = currentDatabase() AND engine NOT IN ('MaterializedView', 'View'))
ORDER BY c.table, c.name`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ table, name, typ string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.table, &c.name, &c.typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if len(cols) < 20 {
		t.Fatalf("only %d text columns found: the scan would prove nothing", len(cols))
	}
	found := map[string][]string{}
	for _, c := range cols {
		expr := "position(toString(`" + c.name + "`), ?) > 0"
		if strings.HasPrefix(c.typ, "Array(") {
			expr = "arrayExists(x -> position(toString(x), ?) > 0, `" + c.name + "`)"
		}
		for _, n := range needles {
			var hits uint64
			if err := db.Conn.QueryRow(ctx, "SELECT count() FROM `"+c.table+"` WHERE "+expr, n).Scan(&hits); err != nil {
				t.Fatalf("scan %s.%s: %v", c.table, c.name, err)
			}
			if hits > 0 {
				found[n] = append(found[n], c.table+"."+c.name)
			}
		}
	}
	pg := pgOf(db).Pool
	prows, err := pg.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = 'public' AND (data_type IN ('text', 'character varying') OR udt_name IN ('_text', '_varchar'))
ORDER BY table_name, column_name`)
	if err != nil {
		t.Fatal(err)
	}
	var pgCols []col
	for prows.Next() {
		var c col
		if err := prows.Scan(&c.table, &c.name); err != nil {
			t.Fatal(err)
		}
		pgCols = append(pgCols, c)
	}
	prows.Close()
	if err := prows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(pgCols) < 10 {
		t.Fatalf("only %d text columns found in PostgreSQL: the scan would prove nothing", len(pgCols))
	}
	for _, c := range pgCols {
		for _, n := range needles {
			if !utf8.ValidString(n) || strings.ContainsRune(n, 0) {
				continue // PostgreSQL text cannot hold it
			}
			var hits uint64
			if err := pg.QueryRow(ctx, `SELECT count(*) FROM "`+c.table+`" WHERE strpos("`+c.name+`"::text, $1) > 0`, n).Scan(&hits); err != nil {
				t.Fatalf("scan pg %s.%s: %v", c.table, c.name, err)
			}
			if hits > 0 {
				found[n] = append(found[n], "pg:"+c.table+"."+c.name)
			}
		}
	}
	return found
}

// The erase scenario, relative to two past months (M1, M2).
type seedHit struct {
	id, kind, link, visitor string
	at                      time.Time
}

type seedConv struct {
	id, typ, user, order, click, visitor, amount string
	at                                           time.Time
}

type seedPerson struct {
	name     string
	hits     []seedHit
	convs    []seedConv
	rejected []string // queries of rejected pixel hits
}

var eraseLinks = map[string]struct{ ps, partner, dir string }{
	"demo":  {"acme-de", "acme", "inbound"},
	"out":   {"acme-de", "acme", "outbound"},
	"bdemo": {"beta-de", "beta", "inbound"},
}

func erasePeople(m1, m2 time.Time) []seedPerson {
	at := func(m time.Time, day, hour int) time.Time {
		return m.AddDate(0, 0, day).Add(time.Duration(hour) * time.Hour)
	}
	id := func(t time.Time) string { return ids.New(t) }
	cP1, cP2, cP3 := id(at(m1, 2, 10)), id(at(m2, 3, 10)), id(at(m2, 4, 10))
	cQ1, cQ2 := id(at(m1, 5, 10)), id(at(m2, 6, 10))
	return []seedPerson{
		{name: "P", // user u-erase on two browsers
			hits: []seedHit{
				{cP1, "click", "demo", "vP1-browser", at(m1, 2, 10)},
				{cP2, "click", "demo", "vP1-browser", at(m2, 3, 10)},
				{id(at(m2, 3, 11)), "view", "demo", "vP1-browser", at(m2, 3, 11)},
				{cP3, "click", "bdemo", "vP2-browser", at(m2, 4, 10)},
			},
			convs: []seedConv{
				{id(at(m1, 2, 11)), "signup", "u-erase", "", cP1, "vP1-browser", "", at(m1, 2, 11)},
				{id(at(m2, 4, 11)), "purchase", "u-erase", "o-erase", cP3, "", "50", at(m2, 4, 11)},
				{id(at(m2, 3, 12)), "purchase", "", "o-anon", "", "vP1-browser", "7", at(m2, 3, 12)}, // a pixel without uid
			},
			rejected: []string{"e=signup&uid=u-erase&click=nope"},
		},
		{name: "Q",
			hits: []seedHit{
				{cQ1, "click", "demo", "vQ-browser", at(m1, 5, 10)},
				{cQ2, "click", "bdemo", "vQ-browser", at(m2, 6, 10)},
			},
			convs: []seedConv{
				{id(at(m1, 5, 11)), "signup", "u-keep", "", cQ1, "vQ-browser", "", at(m1, 5, 11)},
				{id(at(m2, 6, 11)), "purchase", "u-keep", "o-keep", cQ2, "vQ-browser", "30", at(m2, 6, 11)},
			},
			rejected: []string{"e=signup&uid=u-keep&click=nope"},
		},
		{name: "R", // a visitor who never converts
			hits: []seedHit{
				{id(at(m1, 7, 10)), "click", "demo", "vR-browser", at(m1, 7, 10)},
				{id(at(m2, 7, 10)), "click", "demo", "vR-browser", at(m2, 7, 10)},
				{id(at(m2, 8, 10)), "click", "out", "vR-browser", at(m2, 8, 10)},
				{id(at(m2, 8, 11)), "view", "bdemo", "vR-browser", at(m2, 8, 11)},
			},
		},
		{name: "S", // another user on P's first browser: theirs, kept
			convs: []seedConv{{id(at(m2, 9, 11)), "signup", "u-shared", "", "", "vP1-browser", "", at(m2, 9, 11)}},
		},
	}
}

// seedErase writes the catalog and the people's events (but skip's).
func seedErase(t *testing.T, db *testenv.DB, people []seedPerson, skip string, m1 time.Time) {
	t.Helper()
	ctx := context.Background()
	seed(t, db)
	addCatalog(t, db, catalogSeed{
		partners:     []catalog.Partner{{ID: "beta", Name: "Beta", Domains: []string{"beta.example"}}},
		partnerships: []catalog.Partnership{{ID: "beta-de", Partner: "beta", Country: "DE", Direction: vocab.Both}},
		links:        []catalog.Link{{Code: "bdemo", Partnership: "beta-de", Direction: vocab.Inbound, URL: "https://www.example.com/b"}},
	})
	s := catalog.NewStore(pgOf(db).Pool).WithClock(testenv.Clock())
	start := m1.AddDate(0, -1, 0)
	for _, ps := range []string{"acme-de", "beta-de"} {
		if _, err := s.SetTerms(ctx, ps, catalog.Terms{EffectiveFrom: start, StartDate: start, Currency: "EUR",
			InboundCPA: decimal.RequireFromString("2"), InboundRevSharePct: decimal.RequireFromString("10"),
			OutboundCPA: decimal.RequireFromString("1")}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	var hits, convs, rejected [][]any
	for _, p := range people {
		if p.name == skip {
			continue
		}
		for _, h := range p.hits {
			l := eraseLinks[h.link]
			hits = append(hits, []any{h.id, h.at, h.kind, h.link, l.partner, l.ps, l.dir, "c1", "DE", h.visitor, uint8(0), h.at.Add(time.Second)})
		}
		for _, c := range p.convs {
			amount, cur := decimal.Zero, ""
			if c.amount != "" {
				amount, cur = decimal.RequireFromString(c.amount), "EUR"
			}
			convs = append(convs, []any{c.id, c.at, c.at, c.typ, vocab.SourceOurs, c.user, c.order, c.click, c.visitor, amount, cur, "DE", c.at.Add(time.Second)})
		}
		for i, q := range p.rejected {
			at := m1.AddDate(0, 0, 20+i)
			rejected = append(rejected, []any{ids.New(at), at, "/p.gif", "bad_click_id", q, "DE", at.Add(time.Second)})
		}
	}
	insertRows(t, db, schema.Hits.InsertOnly("id", "ts", "kind", "link", "partner", "partnership", "direction", "campaign", "country", "visitor", "is_bot", "ingested_at"), hits...)
	insertRows(t, db, schema.Conversions.InsertOnly("id", "ts", "received_at", "type", "source", "user_id", "order_id", "click_id", "visitor", "amount", "currency", "country", "ingested_at"), convs...)
	insertRows(t, db, schema.RejectedHits.InsertOnly("id", "ts", "endpoint", "reason", "query", "country", "ingested_at"), rejected...)
}

// reportsJSON runs every report over [from, to] and returns their JSON by
// name (breakdown of acme-de by day).
func reportsJSON(t *testing.T, db *testenv.DB, from, to time.Time) map[string]string {
	t.Helper()
	ctx := context.Background()
	snap, err := catalog.NewStore(pgOf(db).Pool).WithClock(testenv.Clock()).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env := &reports.Env{Conn: db.Conn, Catalog: snap}
	out := map[string]string{}
	for _, name := range reports.Names() {
		p := reports.Params{From: from, To: to}
		by := ""
		if name == "breakdown" {
			p.Partnerships, by = []string{"acme-de"}, "day"
		}
		tab, err := reports.Registry[name].Run(ctx, env, p, by)
		if err != nil {
			t.Fatalf("report %s: %v", name, err)
		}
		var b bytes.Buffer
		if err := tab.Write(&b, reports.FormatJSON); err != nil {
			t.Fatal(err)
		}
		out[name] = b.String()
	}
	return out
}

// bruteClicks counts, from the seed, the clicks and distinct visitors per
// partnership and direction, leaving out the named people and visitors.
func bruteClicks(people []seedPerson, skip map[string]bool) map[string][2]int {
	visitors := map[string]map[string]bool{}
	out := map[string][2]int{}
	for _, p := range people {
		if skip[p.name] {
			continue
		}
		for _, h := range p.hits {
			if h.kind != "click" || skip[h.visitor] {
				continue
			}
			l := eraseLinks[h.link]
			k := l.ps + "/" + l.dir
			if visitors[k] == nil {
				visitors[k] = map[string]bool{}
			}
			visitors[k][h.visitor] = true
			c := out[k]
			c[0]++
			c[1] = len(visitors[k])
			out[k] = c
		}
	}
	return out
}

// reportClicks reads clicks and unique visitors per partnership/direction
// from the partnerships report's JSON.
func reportClicks(t *testing.T, js string) map[string][2]int {
	t.Helper()
	var r struct {
		Items []struct {
			Partnership    string  `json:"partnership"`
			Direction      string  `json:"direction"`
			Clicks         float64 `json:"clicks"`
			UniqueVisitors float64 `json:"unique_visitors"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatal(err)
	}
	out := map[string][2]int{}
	for _, it := range r.Items {
		if it.Clicks > 0 {
			out[it.Partnership+"/"+it.Direction] = [2]int{int(it.Clicks), int(it.UniqueVisitors)}
		}
	}
	return out
}

// TestEraseUser: erasing a user removes their conversions, the hits of
// every browser they used, the attributions, their rejected hits and
// Redis dedup keys, from every table; another user's conversion on the
// shared browser stays; the audit log records the erasure without the id;
// and every report then equals the same report over a database that never
// held the person (and a brute-force count of clicks and visitors).
// Erasing a visitor then removes that browser's hits only.
func TestEraseUser(t *testing.T) {
	now := testenv.Now().UTC()
	m2 := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -2, 0)
	m1 := m2.AddDate(0, -1, 0)
	from, to := m1, m2.AddDate(0, 1, -1)
	people := erasePeople(m1, m2)
	dbA, dbB := newDB(t), newDB(t)
	seedErase(t, dbA, people, "", m1)
	seedErase(t, dbB, people, "P", m1)
	r := testenv.NewRedis(t)
	ctx := context.Background()
	var pKeys, keepKeys []string
	for _, p := range people {
		for _, c := range p.convs {
			k := conversion.DedupKey(r.Prefix, vocab.SourceOurs, c.typ, c.user, c.order)
			if err := r.Client.Set(ctx, k, "1", time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			if p.name == "P" {
				pKeys = append(pKeys, k)
			} else {
				keepKeys = append(keepKeys, k)
			}
		}
	}
	attribute := func(db *testenv.DB) {
		t.Helper()
		if code, out, errOut := cliRun(t, db, "attribute", "--from", from.Format(time.DateOnly), "--to", to.Format(time.DateOnly)); code != 0 {
			t.Fatalf("attribute: %s %s", out, errOut)
		}
	}
	attribute(dbA)
	attribute(dbB)
	if n := count(t, dbA, "SELECT count() FROM attributions FINAL WHERE user_id = 'u-erase' AND outcome IN ('new_user', 'credited')"); n != 2 {
		t.Fatalf("before: %d attributions of u-erase credited, want 2 (the scenario proves nothing otherwise)", n)
	}
	before := reportsJSON(t, dbA, from, to)
	if want := reportsJSON(t, dbB, from, to); before["partnerships"] == want["partnerships"] {
		t.Fatal("the person changes no report: the scenario proves nothing")
	}

	personal := []string{"u-erase", "vP1-browser", "vP2-browser", "o-erase", "o-anon"}
	for _, p := range people[0].hits {
		personal = append(personal, p.id)
	}
	for _, c := range people[0].convs {
		personal = append(personal, c.id)
	}
	rowsOf := func() map[string]uint64 {
		return map[string]uint64{
			"hits":         count(t, dbA, "SELECT count() FROM hits"),
			"conversions":  count(t, dbA, "SELECT count() FROM conversions"),
			"attributions": count(t, dbA, "SELECT count() FROM attributions"),
			"rejected":     count(t, dbA, "SELECT count() FROM rejected_hits"),
		}
	}
	redisArgs := []string{"--redis-url", r.URL, "--redis-prefix", r.Prefix}
	rowsBefore := rowsOf()
	runSteps(t, dbA, []cliStep{
		{name: "dry run", args: append([]string{"erase", "--user", "u-erase", "--dry-run"}, redisArgs...), code: 0,
			out: []string{"would erase user u-erase (ours): conversions 3, conversions_visitor_cleared 1, hits 4, attributions 4, rejected_hits 1; 2 visitor id(s), 3 conversion(s), 3 redis key(s)"}},
	})
	if got := rowsOf(); fmt.Sprint(got) != fmt.Sprint(rowsBefore) {
		t.Fatalf("the dry run changed rows: %v -> %v", rowsBefore, got)
	}
	if n, _ := r.Client.Exists(ctx, pKeys...).Result(); int(n) != len(pKeys) {
		t.Fatal("the dry run deleted redis keys")
	}
	runSteps(t, dbA, []cliStep{
		{name: "no subject", args: []string{"erase"}, code: 2, errText: []string{"exactly one of --user and --visitor"}},
		{name: "both", args: []string{"erase", "--user", "a", "--visitor", "b"}, code: 2, errText: []string{"exactly one"}},
		{name: "erase", args: append([]string{"erase", "--user", "u-erase"}, redisArgs...), code: 0,
			out: []string{"erased user u-erase (ours)", "conversions 3, conversions_visitor_cleared 1, hits 4, attributions 4, rejected_hits 1", fmt.Sprintf("rollup months rebuilt [%s %s]", m1.Format("200601"), m2.Format("200601")), "3 redis key(s) deleted"}},
		{name: "again", args: append([]string{"erase", "--user", "u-erase"}, redisArgs...), code: 0, out: []string{"nothing to erase"}},
	})

	// Gone from every text column of every table, audit log included.
	if found := scanStrings(t, dbA, personal...); len(found) > 0 {
		t.Errorf("after erasure the person's ids remain: %v", found)
	}
	if found := scanStrings(t, dbA, "u-keep", "vQ-browser", "u-shared", "vR-browser"); len(found) != 4 {
		t.Errorf("other people's data was erased too: found only %v", found)
	}
	if n := count(t, dbA, "SELECT count() FROM conversions WHERE user_id = 'u-shared' AND visitor = ''"); n != 1 {
		t.Errorf("another user's conversion on the shared browser: %d rows, want 1 (kept, without the browser's id)", n)
	}
	if n := count(t, dbA, "SELECT count() FROM rejected_hits"); n != 1 {
		t.Errorf("rejected hits left: %d, want 1 (u-keep's)", n)
	}
	if n, _ := r.Client.Exists(ctx, pKeys...).Result(); n != 0 {
		t.Errorf("%d dedup keys of the person remain", n)
	}
	if n, _ := r.Client.Exists(ctx, keepKeys...).Result(); int(n) != len(keepKeys) {
		t.Errorf("other people's dedup keys deleted: %d of %d left", n, len(keepKeys))
	}
	// The audit entry: the actor, and a hash of the id instead of the id.
	var actor, entityID, after string
	if err := pgOf(dbA).Pool.QueryRow(ctx, `SELECT actor, entity_id, after FROM audit_log WHERE action = 'erase' AND entity = 'person'`).Scan(&actor, &entityID, &after); err != nil {
		t.Fatalf("audit entry: %v", err)
	}
	if actor != cliActor() || entityID != "user:"+sha256Hex([]byte("ours:u-erase")) || !strings.Contains(after, `"hits":4`) {
		t.Errorf("audit entry: actor %q entity %q after %s", actor, entityID, after)
	}

	// The rollup agrees with the remaining raw hits, month by month.
	if n := count(t, dbA, `SELECT count() FROM (SELECT toYYYYMM(hour) AS m, countMerge(hits) AS n FROM hits_hourly GROUP BY m) AS r
FULL OUTER JOIN (SELECT toYYYYMM(ts) AS m, count() AS n FROM hits WHERE partnership != '' GROUP BY m) AS h USING m WHERE r.n != h.n`); n != 0 {
		t.Errorf("hits_hourly disagrees with hits in %d month(s)", n)
	}
	// No further attribution run is needed: the erasure attributed again
	// the one conversion (the shared browser's) credited to the person.
	got, want := reportsJSON(t, dbA, from, to), reportsJSON(t, dbB, from, to)
	for _, name := range reports.Names() {
		if got[name] != want[name] {
			t.Errorf("report %s after erasure:\n%s\nwant (never held the person):\n%s", name, got[name], want[name])
		}
	}
	if bc, rc := bruteClicks(people, map[string]bool{"P": true}), reportClicks(t, got["partnerships"]); fmt.Sprint(bc) != fmt.Sprint(rc) {
		t.Errorf("clicks and visitors %v, brute force %v", rc, bc)
	}

	// A visitor: that browser's hits only.
	runSteps(t, dbA, []cliStep{
		{name: "erase visitor", args: append([]string{"erase", "--visitor", "vR-browser"}, redisArgs...), code: 0,
			out: []string{"erased visitor vR-browser", "conversions 0, conversions_visitor_cleared 0, hits 4, attributions 0, rejected_hits 0"}},
	})
	if found := scanStrings(t, dbA, "vR-browser"); len(found) > 0 {
		t.Errorf("visitor remains in %v", found)
	}
	if bc, rc := bruteClicks(people, map[string]bool{"P": true, "vR-browser": true}), reportClicks(t, reportsJSON(t, dbA, from, to)["partnerships"]); fmt.Sprint(bc) != fmt.Sprint(rc) {
		t.Errorf("after erasing the visitor: clicks and visitors %v, brute force %v", rc, bc)
	}
	var audits []string
	rows, err := pgOf(dbA).Pool.Query(ctx, `SELECT entity_id FROM audit_log WHERE action = 'erase' ORDER BY ts, id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		audits = append(audits, strings.SplitN(s, ":", 2)[0])
	}
	rows.Close()
	sort.Strings(audits)
	if strings.Join(audits, ",") != "user,visitor" {
		t.Errorf("erase audit entries: %v", audits)
	}
}

func TestEraseHelp(t *testing.T) {
	for _, args := range [][]string{{"erase", "--help"}, {"retention", "--help"}} {
		code, out, errOut := cliRun(t, nil, args...)
		if code != 0 || !strings.Contains(out+errOut, "Usage: xpromo "+args[0]) || !strings.Contains(out+errOut, "--dry-run") {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
}

// seedMonths writes n clicks on acme-de's link, and one rejected hit, on
// the 10th of each month.
func seedMonths(t *testing.T, db *testenv.DB, months []time.Time, n int) {
	t.Helper()
	var hits, rejected [][]any
	for _, m := range months {
		at := m.AddDate(0, 0, 9).Add(10 * time.Hour)
		for i := range n {
			hits = append(hits, []any{fmt.Sprintf("h-%s-%d", m.Format("200601"), i), at, "click", "demo", "acme", "acme-de", "inbound", "DE", fmt.Sprintf("v%d", i%3), uint8(0), at})
		}
		rejected = append(rejected, []any{"r-" + m.Format("200601"), at, "/r/nope", "unknown_code", "", "DE", at})
	}
	insertRows(t, db, schema.Hits.InsertOnly("id", "ts", "kind", "link", "partner", "partnership", "direction", "country", "visitor", "is_bot", "ingested_at"), hits...)
	insertRows(t, db, schema.RejectedHits.InsertOnly("id", "ts", "endpoint", "reason", "query", "country", "ingested_at"), rejected...)
}

// monthsOf lists the months (YYYYMM) table has rows of.
func monthsOf(t *testing.T, db *testenv.DB, table string) string {
	t.Helper()
	return strings.Join(column(t, db, "SELECT DISTINCT toString(toYYYYMM(ts)) AS m FROM "+table+" ORDER BY m"), ",")
}

// TestRetention: months of raw hits older than --retain-hits (and than
// what attribution of the open months reads) are dropped whole, newer
// ones kept; the rollup keeps the old months' counts; reports over the
// kept months do not change; --dry-run drops nothing; serve does the same
// on its own with --retain-hits.
func TestRetention(t *testing.T) {
	now := testenv.Now().UTC()
	this := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	old40, old30, old14, prev := this.AddDate(0, -40, 0), this.AddDate(0, -30, 0), this.AddDate(0, -14, 0), this.AddDate(0, -1, 0)
	db := newDB(t)
	seed(t, db)
	seedMonths(t, db, []time.Time{old40, old30, old14, prev, this}, 5)
	all := strings.Join([]string{old40.Format("200601"), old30.Format("200601"), old14.Format("200601"), prev.Format("200601"), this.Format("200601")}, ",")
	kept := strings.Join([]string{old14.Format("200601"), prev.Format("200601"), this.Format("200601")}, ",")
	if got := monthsOf(t, db, "hits"); got != all {
		t.Fatalf("seeded months %s, want %s", got, all)
	}
	ctx := context.Background()
	keptReport := func() string {
		t.Helper()
		snap, err := catalog.NewStore(pgOf(db).Pool).WithClock(testenv.Clock()).Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, name := range []string{"partnerships", "breakdown", "quality"} {
			p := reports.Params{From: old14, To: now, Granularity: reports.Month, Partnerships: []string{"acme-de"}}
			tab, err := reports.Registry[name].Run(ctx, &reports.Env{Conn: db.Conn, Catalog: snap}, p, "day")
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			_ = tab.Write(&b, reports.FormatCSV)
			out += b.String()
		}
		return out
	}
	before := keptReport()
	rollupOld := count(t, db, "SELECT countMerge(hits) FROM hits_hourly WHERE toString(toYYYYMM(hour)) = ?", old40.Format("200601"))
	if rollupOld != 5 {
		t.Fatalf("rollup of the oldest month: %d, want 5", rollupOld)
	}
	wouldDrop := []string{"would drop hits " + old40.Format("200601") + " (5 rows)", "would drop hits " + old30.Format("200601") + " (5 rows)",
		"would drop rejected_hits " + old40.Format("200601") + " (1 rows)"}
	runSteps(t, db, []cliStep{
		{name: "off", args: []string{"retention"}, code: 0, out: []string{"retention is off"}},
		{name: "bad", args: []string{"retention", "--retain-hits", "13 months"}, code: 1},
		{name: "dry run", args: []string{"retention", "--retain-hits", "13mo", "--dry-run"}, code: 0,
			out: wouldDrop, notOut: []string{old14.Format("200601") + " ("}},
	})
	if got := monthsOf(t, db, "hits"); got != all {
		t.Fatalf("the dry run dropped months: %s", got)
	}
	runSteps(t, db, []cliStep{
		{name: "drop", args: []string{"retention", "--retain-hits", "13mo"}, code: 0,
			out: []string{"dropped hits " + old40.Format("200601"), "dropped hits " + old30.Format("200601"), "dropped rejected_hits " + old30.Format("200601"),
				"the attribution of the open months reads clicks back to"}},
		{name: "again", args: []string{"retention", "--retain-hits", "13mo"}, code: 0, out: []string{"no month of raw hits is older than 13mo"}},
	})
	for _, table := range []string{"hits", "rejected_hits"} {
		if got := monthsOf(t, db, table); got != kept {
			t.Errorf("%s months after retention: %s, want %s", table, got, kept)
		}
	}
	if n := count(t, db, "SELECT countMerge(hits) FROM hits_hourly WHERE toString(toYYYYMM(hour)) = ?", old40.Format("200601")); n != rollupOld {
		t.Errorf("the rollup lost the old month: %d, want %d", n, rollupOld)
	}
	if after := keptReport(); after != before {
		t.Errorf("reports over the kept months changed:\n%s\nwant\n%s", after, before)
	}
	var actor, after string
	if err := pgOf(db).Pool.QueryRow(ctx, `SELECT actor, after FROM audit_log WHERE action = 'drop' AND entity = 'partition'`).Scan(&actor, &after); err != nil {
		t.Fatal(err)
	}
	if actor != cliActor() || !strings.Contains(after, `"retain_hits":"13mo"`) || !strings.Contains(after, old40.Format("200601")) {
		t.Errorf("audit: %s %s", actor, after)
	}

	// serve with --retain-hits, through the environment: a month written
	// again is dropped without being asked.
	seedMonths(t, db, []time.Time{old40}, 2)
	t.Setenv("XPROMO_RETAIN_HITS", "2y")
	var c common
	var keep string
	f := newFlags("x", "x", "x")
	c.register(f, false)
	f.String(&keep, "retain-hits", "off", "")
	if err := parseFlags(f, nil); err != nil || keep != "2y" {
		t.Fatalf("XPROMO_RETAIN_HITS not read: %q %v", keep, err)
	}
	r := testenv.NewRedis(t)
	startServe(t, r.URL, r.Prefix, db, func(c *app.Config) { c.RetainHits = keep })
	// The audit entry is written last.
	waitPGCount(t, db, "serve's retention", 1, "SELECT count(*) FROM audit_log WHERE action = 'drop' AND actor = 'serve'")
	for _, table := range []string{"hits", "rejected_hits"} {
		if got := monthsOf(t, db, table); got != kept {
			t.Errorf("%s after serve's retention: %s, want %s", table, got, kept)
		}
	}
}
