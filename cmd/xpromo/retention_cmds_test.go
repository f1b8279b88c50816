package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/app"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

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
	db := testenv.ClickHouse(t)
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
		snap, err := catalog.NewStore(db.Conn).WithClock(testenv.Clock()).Load(ctx)
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
	if err := db.Conn.QueryRow(ctx, `SELECT actor, after FROM audit_log WHERE action = 'drop' AND entity = 'partition'`).Scan(&actor, &after); err != nil {
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
	waitCount(t, db, "serve's retention", 1, "SELECT count() FROM audit_log WHERE action = 'drop' AND actor = 'serve'")
	for _, table := range []string{"hits", "rejected_hits"} {
		if got := monthsOf(t, db, table); got != kept {
			t.Errorf("%s after serve's retention: %s, want %s", table, got, kept)
		}
	}
}
