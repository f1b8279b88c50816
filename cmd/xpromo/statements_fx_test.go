package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestStatementsCommandsMissingFXRates: October has a credited USD
// purchase (terms in EUR) on a day with no ECB rate. `xpromo statements
// build|close|export --period 2026-10`, as the README prints them, exit
// non-zero naming the currency-day and close nothing; after `xpromo fx load
// FILE` the close goes through.
func TestStatementsCommandsMissingFXRates(t *testing.T) {
	db := testenv.ClickHouse(t)
	seed(t, db)
	ctx := context.Background()
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	if _, err := catalog.NewStore(db.Conn).WithClock(testenv.Clock()).SetTerms(ctx, "acme-de", catalog.Terms{EffectiveFrom: start,
		StartDate: start, Currency: "EUR", InboundCPA: decimal.RequireFromString("2.50"), InboundRevSharePct: decimal.NewFromInt(10)}, "test"); err != nil {
		t.Fatal(err)
	}
	b, err := db.Conn.PrepareBatch(ctx, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "outcome", "partnership", "partner", "country", "direction", "terms_version", "revenue", "currency", "computed_at", "version"))
	if err != nil {
		t.Fatal(err)
	}
	signup, purchase := time.Date(2026, 10, 2, 9, 0, 0, 0, time.UTC), time.Date(2026, 10, 5, 10, 0, 0, 0, time.UTC)
	if err := b.Append("c1", signup, "signup", "ours", "new_user", "acme-de", "acme", "DE", "inbound", uint32(1), decimal.Zero, "", signup, uint64(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Append("c2", purchase, "purchase", "ours", "credited", "acme-de", "acme", "DE", "inbound", uint32(1),
		decimal.RequireFromString("870.81"), "USD", purchase, uint64(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	const missing = "missing ECB rates: no ECB rate (on the day or up to 7 days before) for USD on 2026-10-05; " +
		"load the rates (xpromo fx load FILE) and try again"
	dir := t.TempDir()
	for _, args := range [][]string{
		{"statements", "build", "--period", "2026-10"},
		{"statements", "close", "--period", "2026-10"},
		{"statements", "export", "--period", "2026-10", "--format", "csv", "--out", dir},
	} {
		code, out, errOut := cliRun(t, db, args...)
		if code == 0 || !strings.Contains(errOut, missing) || !strings.HasPrefix(errOut, "xpromo statements "+args[1]+": ") {
			t.Errorf("xpromo %s without the USD rate: exit %d, want non-zero with %q on stderr\nstdout: %s\nstderr: %s",
				strings.Join(args, " "), code, missing, out, errOut)
		}
	}
	if n := count(t, db, "SELECT count() FROM statements"); n != 0 {
		t.Fatalf("a refused close stored %d statements", n)
	}
	if n := count(t, db, "SELECT count() FROM audit_log WHERE entity = 'statement'"); n != 0 {
		t.Fatalf("a refused close audited %d times", n)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("a refused export wrote %v", files)
	}

	// The ECB's rates of Friday 2 October serve Monday the 5th.
	csv := filepath.Join(t.TempDir(), "eurofxref.csv")
	if err := os.WriteFile(csv, []byte("Date, USD, \n02 October 2026, 1.1000, \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cliRun(t, db, "fx", "load", csv); code != 0 || !strings.Contains(out, "loaded 1 rates") {
		t.Fatalf("fx load: %d %s %s", code, out, errOut)
	}
	// 870.81 USD / 1.1 = 791.65 EUR of revenue.
	if code, out, errOut := cliRun(t, db, "statements", "build", "--period", "2026-10"); code != 0 || !strings.Contains(out, "791.65") {
		t.Fatalf("build with the USD rate loaded: %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if code, out, errOut := cliRun(t, db, "statements", "close", "--period", "2026-10"); code != 0 || !strings.Contains(out, "closed 2026-10") {
		t.Fatalf("close with the USD rate loaded: %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}
