package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestReportNamedCommands runs `xpromo report balance|breakdown|overlaps|
// quality` as the README and docs/REPORTS.md print them (`xpromo report
// NAME`, `--format table|csv|json`, the period and filter flags) and checks
// each output twice: byte for byte against the same report computed
// through the library (reports.Registry) and, for the figures the test
// wrote, against the known data.
func TestReportNamedCommands(t *testing.T) {
	db := newDB(t)
	d := seedDashboard(t, db)
	ctx := t.Context()
	curAt := d.cur.Add(time.Hour)

	// What seedDashboard lacks: a user two partnerships claim (beta-de won,
	// acme-de also had a click), a repeat of that signup, a bot click and
	// rejected hits.
	insertRows(t, db, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "user_id", "outcome", "partnership", "partner", "country", "direction", "terms_version", "overlaps", "revenue", "currency", "revenue_rep", "rep_currency", "computed_at", "version"),
		[]any{"c-shared", curAt, "signup", "ours", "u-shared", "new_user", "beta-de", "beta", "DE", "inbound", uint32(1), []string{"acme-de", "beta-de"}, decimal.Zero, "", decimal.Zero, "", curAt, uint64(1)},
		[]any{"c-shared-again", curAt, "signup", "ours", "u-shared", "duplicate", "", "", "", "none", uint32(1), []string{}, decimal.Zero, "", decimal.Zero, "", curAt, uint64(1)})
	insertRows(t, db, schema.Hits.InsertOnly("id", "ts", "kind", "link", "partnership", "partner", "direction", "visitor", "is_bot", "country", "ingested_at"),
		[]any{"h-bot", curAt, "click", "gamma-in", "gamma-fr", "gamma", "inbound", "bot-v", uint8(1), "FR", curAt})
	var rejected [][]any
	for i, reason := range []string{"bad_amount", "bad_amount", "link_inactive"} {
		rejected = append(rejected, []any{fmt.Sprintf("r%d", i), curAt, "/p.gif", reason, "", "gamma-in", "gamma", "gamma-fr", "FR", uint8(0), curAt})
	}
	insertRows(t, db, schema.RejectedHits.Insert(), rejected...)

	// The library's answer to the same question, with what the CLI reads.
	snap, err := catalog.NewStore(pgOf(db).Pool).WithClock(testenv.Clock()).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env, err := reports.NewEnv(ctx, db.Conn, pgOf(db).Pool, snap)
	if err != nil {
		t.Fatal(err)
	}
	library := func(name string, p reports.Params, by, format string) string {
		t.Helper()
		tbl, err := reports.Registry[name].Run(ctx, env, p, by)
		if err != nil {
			t.Fatalf("library %s: %v", name, err)
		}
		var b bytes.Buffer
		if err := tbl.Write(&b, format); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}

	// The CLI's default period: this month so far, by the binary's clock.
	now := clock().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	thisMonth := reports.Params{From: today.AddDate(0, 0, 1-today.Day()), To: today}
	monthEnd := d.cur.AddDate(0, 1, -1)
	from, to := d.cur.Format(time.DateOnly), monthEnd.Format(time.DateOnly)
	period := reports.Params{From: d.cur, To: monthEnd}
	withCompare := period
	withCompare.Compare = reports.ComparePrevious
	de := period
	de.Countries = []string{"DE"}
	acme := period
	acme.Partnerships = []string{"acme-de"}
	byMonth := reports.Params{From: d.prev, To: monthEnd, Granularity: reports.Month}

	// item is one JSON row of a report, by the first columns' values.
	type items = []map[string]any
	find := func(t *testing.T, out string, key map[string]string) map[string]any {
		t.Helper()
		var body struct{ Items items }
		if err := json.Unmarshal([]byte(out), &body); err != nil {
			t.Fatalf("json: %v\n%s", err, out)
		}
	next:
		for _, it := range body.Items {
			for k, v := range key {
				if fmt.Sprint(it[k]) != v {
					continue next
				}
			}
			return it
		}
		t.Fatalf("no row %v in\n%s", key, out)
		return nil
	}
	// want checks a row's values as JSON prints them.
	want := func(t *testing.T, row map[string]any, fields map[string]string) {
		t.Helper()
		for k, v := range fields {
			if got := fmt.Sprint(row[k]); got != v {
				t.Errorf("%s = %s, want %s (row %v)", k, got, v, row)
			}
		}
	}

	for _, tt := range []struct {
		name   string
		args   []string
		report string
		params reports.Params
		by     string
		format string
		check  func(t *testing.T, out string) // the known figures
	}{
		{"balance, bare as in the README", []string{"report", "balance"}, "balance",
			thisMonth, "", "table", func(t *testing.T, out string) {
				if !strings.Contains(out, "INBOUND NEW USERS") || !strings.Contains(out, "acme-de") {
					t.Errorf("table:\n%s", out)
				}
			}},
		{"balance json", []string{"report", "balance", "--from", from, "--to", to, "--format", "json"}, "balance", period, "", "json",
			func(t *testing.T, out string) {
				want(t, find(t, out, map[string]string{"partnership": "acme-de"}), map[string]string{
					"inbound_new_users": "3", "outbound_new_users": "2", "net_users": "1", "inbound_revenue": "59.99"})
				want(t, find(t, out, map[string]string{"partnership": "beta-de"}), map[string]string{
					"inbound_new_users": "2", "outbound_new_users": "0", "inbound_revenue": "25.5"})
			}},
		{"balance compared, csv", []string{"report", "balance", "--from", from, "--to", to, "--compare", "previous", "--format", "csv"}, "balance", withCompare, "", "csv",
			func(t *testing.T, out string) {
				if !strings.Contains(out, "inbound_new_users") || strings.Count(out, "\n") != 4 { // header and 3 partnerships
					t.Errorf("csv:\n%s", out)
				}
			}},
		{"breakdown by link", []string{"report", "breakdown", "--partnership", "acme-de", "--by", "link", "--from", from, "--to", to, "--format", "json"}, "breakdown", acme, "link", "json",
			func(t *testing.T, out string) {
				want(t, find(t, out, map[string]string{"link": "demo"}), map[string]string{"clicks": "12", "views": "30"})
				want(t, find(t, out, map[string]string{"link": "out"}), map[string]string{"clicks": "5"})
			}},
		{"breakdown by sub", []string{"report", "breakdown", "--partnership", "acme-de", "--by", "sub", "--from", from, "--to", to, "--format", "json"}, "breakdown", acme, "sub", "json",
			func(t *testing.T, out string) {
				want(t, find(t, out, map[string]string{"sub": ""}), map[string]string{"clicks": "17"}) // no click had a sub=
			}},
		{"breakdown by day, table", []string{"report", "breakdown", "--partnership", "acme-de", "--by", "day", "--from", from, "--to", to}, "breakdown", acme, "day", "table",
			func(t *testing.T, out string) {
				if !strings.Contains(out, d.cur.Format(time.DateOnly)) {
					t.Errorf("table lacks the day %s:\n%s", d.cur.Format(time.DateOnly), out)
				}
			}},
		{"overlaps in DE", []string{"report", "overlaps", "--country", "DE", "--from", from, "--to", to, "--format", "json"}, "overlaps", de, "", "json",
			func(t *testing.T, out string) {
				want(t, find(t, out, map[string]string{"partnership": "beta-de"}), map[string]string{
					"overlapping_partnership": "acme-de", "contested_users": "1", "contested_new_users": "1", "new_users": "2", "contested_share": "0.5"})
				if strings.Count(out, `"overlapping_partnership"`) != 2 { // the column and the one row
					t.Errorf("want one overlap:\n%s", out)
				}
			}},
		{"overlaps by month, csv", []string{"report", "overlaps", "--from", d.prev.Format(time.DateOnly), "--to", to, "--granularity", "month", "--format", "csv"}, "overlaps", byMonth, "", "csv",
			func(t *testing.T, out string) {
				if !strings.Contains(out, d.cur.Format(time.DateOnly)+",DE,beta-de,beta,acme-de,1,1,2,") {
					t.Errorf("csv:\n%s", out)
				}
			}},
		{"quality", []string{"report", "quality", "--from", from, "--to", to, "--format", "json"}, "quality", period, "", "json",
			func(t *testing.T, out string) {
				want(t, find(t, out, map[string]string{"partner": "gamma"}), map[string]string{
					"hits": "10", "bot_hits": "1", "rejected": "3", "duplicate_conversions": "0"})
				want(t, find(t, out, map[string]string{"partner": "beta"}), map[string]string{
					"hits": "18", "bot_hits": "0", "rejected": "0", "duplicate_conversions": "1"})
				if r := fmt.Sprint(find(t, out, map[string]string{"partner": "gamma"})["rejected_by_reason"]); !strings.Contains(r, "bad_amount") || !strings.Contains(r, "link_inactive") {
					t.Errorf("rejected_by_reason %q", r)
				}
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cliRun(t, db, tt.args...)
			if code != 0 {
				t.Fatalf("xpromo %s: exit %d\n%s", strings.Join(tt.args, " "), code, errOut)
			}
			if lib := library(tt.report, tt.params, tt.by, tt.format); out != lib {
				t.Errorf("xpromo %s printed\n%s\nthe library's report is\n%s", strings.Join(tt.args, " "), out, lib)
			}
			tt.check(t, out)
		})
	}
}
