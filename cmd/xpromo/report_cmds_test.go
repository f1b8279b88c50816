package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// reportHits inserts the hits columns the report tests set.
var reportHits = schema.Hits.InsertOnly("id", "ts", "kind", "partnership", "partner", "direction", "visitor", "is_bot", "country", "ingested_at")

// TestReportCommands: report NAME prints the same figures in every format;
// rollup rebuild restores a rollup that lost its rows; country time zones
// are set and listed.
func TestReportCommands(t *testing.T) {
	db := newDB(t)
	seed(t, db)
	ctx := context.Background()
	at := testenv.Now().UTC().Truncate(time.Hour)
	var rows [][]any
	for i, kind := range []string{"click", "click", "click", "view"} {
		rows = append(rows, []any{"h" + string(rune('0'+i)), at, kind, "acme-de", "acme", "inbound", "v" + string(rune('0'+i%2)), uint8(0), "DE", at})
	}
	insertRows(t, db, reportHits, rows...)
	day := at.Format(time.DateOnly)
	check := func(what string) {
		t.Helper()
		code, out, errOut := cliRun(t, db, "report", "partnerships", "--from", day, "--to", day, "--format", "csv")
		if code != 0 || !strings.Contains(out, ",acme-de,acme,DE,inbound,1,3,2,") {
			t.Fatalf("%s: report: %d %q %s", what, code, out, errOut)
		}
	}
	check("fresh")
	if err := db.Conn.Exec(ctx, "TRUNCATE TABLE hits_hourly"); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cliRun(t, db, "rollup", "rebuild"); code != 0 || !strings.Contains(out, "for 4 hits") {
		t.Fatalf("rollup rebuild: %d %s %s", code, out, errOut)
	}
	check("after the rebuild")
	for _, format := range []string{"table", "json"} {
		if code, out, _ := cliRun(t, db, "report", "partnerships", "--from", day, "--to", day, "--format", format); code != 0 || !strings.Contains(out, "acme-de") {
			t.Fatalf("%s: %d %s", format, code, out)
		}
	}
	if code, _, errOut := cliRun(t, db, "country", "set-timezone", "--country", "de", "--timezone", "Mars/Olympus"); code == 0 || !strings.Contains(errOut, "IANA") {
		t.Fatalf("a bad zone: %d %s", code, errOut)
	}
	if code, _, errOut := cliRun(t, db, "country", "set-timezone", "--country", "de", "--timezone", "Europe/Berlin"); code != 0 {
		t.Fatal(errOut)
	}
	if code, out, _ := cliRun(t, db, "country", "list"); code != 0 || !strings.Contains(out, "DE\tEurope/Berlin") {
		t.Fatalf("country list: %s", out)
	}
	if code, _, errOut := cliRun(t, db, "report", "nope"); code != 2 || !strings.Contains(errOut, "partnerships") {
		t.Fatalf("unknown report: %d %s", code, errOut)
	}
}

// TestReportCompareAndXLSX: report NAME --compare previous, as
// docs/REPORTS.md prints it, compares every figure (NAME_prev and
// NAME_change for each numeric column); without --granularity the period
// column says FROM..TO; --format xlsx writes the CSV's cells.
func TestReportCompareAndXLSX(t *testing.T) {
	db := newDB(t)
	seed(t, db)
	at := time.Now().UTC().Truncate(time.Hour)
	// 2 clicks today, 4 yesterday.
	var rows [][]any
	for i, ts := range []time.Time{at, at, at.AddDate(0, 0, -1), at.AddDate(0, 0, -1), at.AddDate(0, 0, -1), at.AddDate(0, 0, -1)} {
		rows = append(rows, []any{fmt.Sprintf("c%d", i), ts, "click", "acme-de", "acme", "inbound", fmt.Sprintf("v%d", i), uint8(0), "DE", ts})
	}
	insertRows(t, db, reportHits, rows...)
	day := at.Format(time.DateOnly)
	for _, name := range []string{"partnerships", "balance"} {
		code, out, errOut := cliRun(t, db, "report", name, "--from", day, "--to", day, "--compare", "previous", "--format", "csv")
		if code != 0 {
			t.Fatalf("%s: %d %s", name, code, errOut)
		}
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(recs) == 0 {
			t.Fatalf("%s: %v %q", name, err, out)
		}
		head := recs[0]
		numeric := map[string][]string{
			"partnerships": {"views", "clicks", "unique_visitors", "ctr", "new_users", "returning_users", "signups", "purchases", "refunds", "revenue", "click_to_signup", "revenue_per_new_user"},
			"balance":      {"inbound_new_users", "outbound_new_users", "net_users", "user_ratio", "inbound_revenue", "outbound_revenue", "net_revenue", "inbound_target", "outbound_target"},
		}[name]
		for _, c := range numeric {
			if !slices.Contains(head, c+"_prev") || !slices.Contains(head, c+"_change") {
				t.Errorf("%s: no %s_prev / %s_change in %v", name, c, c, head)
			}
		}
		if name == "partnerships" {
			if len(recs) != 2 {
				t.Fatalf("partnerships: %q", out)
			}
			row := map[string]string{}
			for i, h := range head {
				row[h] = recs[1][i]
			}
			if row["period"] != day+".."+day || row["clicks"] != "2" || row["clicks_prev"] != "4" || row["clicks_change"] != "-0.5000" ||
				row["unique_visitors_prev"] != "4" || row["unique_visitors_change"] != "-0.5000" {
				t.Errorf("partnerships row %v", row)
			}
		}
		code, xlsx, errOut := cliRun(t, db, "report", name, "--from", day, "--to", day, "--compare", "previous", "--format", "xlsx")
		if code != 0 {
			t.Fatalf("%s xlsx: %d %s", name, code, errOut)
		}
		f, err := excelize.OpenReader(strings.NewReader(xlsx))
		if err != nil {
			t.Fatalf("%s: the xlsx does not open: %v", name, err)
		}
		rows, err := f.GetRows(name)
		if err != nil || len(rows) != len(recs) {
			t.Fatalf("%s: xlsx rows %v (%v), CSV %d", name, rows, err, len(recs))
		}
		for i, rec := range recs {
			for j, want := range rec {
				cell, _ := excelize.CoordinatesToCellName(j+1, i+1)
				got, _ := f.GetCellValue(name, cell, excelize.Options{RawCellValue: i > 0}) // no date cells: the period is FROM..TO text
				if w, err := decimal.NewFromString(want); err == nil && i > 0 {
					if g, err := decimal.NewFromString(got); err != nil || !g.Equal(w) {
						t.Errorf("%s %s = %q, CSV %q", name, cell, got, want)
					}
				} else if got != want {
					t.Errorf("%s %s = %q, CSV %q", name, cell, got, want)
				}
			}
		}
		f.Close()
	}
	if code, _, errOut := cliRun(t, db, "report", "balance", "--format", "pdf"); code != 2 || !strings.Contains(errOut, "xlsx") {
		t.Errorf("--format pdf: %d %s", code, errOut)
	}
}
