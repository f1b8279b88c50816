package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/internal/testenv"
)

// TestReportCommands: report NAME prints the same figures in every format;
// rollup rebuild restores a rollup that lost its rows; country time zones
// are set and listed.
func TestReportCommands(t *testing.T) {
	db := testenv.ClickHouse(t)
	seed(t, db)
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Hour)
	b, err := db.Conn.PrepareBatch(ctx, `INSERT INTO hits (id, ts, kind, partnership, partner, direction, visitor, is_bot, country, ingested_at)`)
	if err != nil {
		t.Fatal(err)
	}
	for i, kind := range []string{"click", "click", "click", "view"} {
		if err := b.Append("h"+string(rune('0'+i)), at, kind, "acme-de", "acme", "inbound", "v"+string(rune('0'+i%2)), uint8(0), "DE", at); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
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
