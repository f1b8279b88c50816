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

// TestStatementsCommands: build a month, close it (audited), export it
// twice to byte-identical files named after the period and the hash.
func TestStatementsCommands(t *testing.T) {
	db := newDB(t)
	seed(t, db)
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	setAcmeTerms(t, db, catalog.Terms{EffectiveFrom: start, StartDate: start, Currency: "EUR", InboundCPA: decimal.RequireFromString("2.50")})
	at := time.Date(2026, 10, 10, 9, 0, 0, 0, time.UTC)
	var rows [][]any
	for _, id := range []string{"c1", "c2", "c3"} {
		rows = append(rows, []any{id, at, "signup", "ours", "new_user", "acme-de", "acme", "DE", "inbound", uint32(1), at, uint64(1)})
	}
	insertRows(t, db, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "outcome", "partnership", "partner", "country", "direction", "terms_version", "computed_at", "version"), rows...)
	if code, out, errOut := cliRun(t, db, "statements", "build", "--period", "2026-10"); code != 0 || !strings.Contains(out, "acme-de") || !strings.Contains(out, "7.50") {
		t.Fatalf("build: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := cliRun(t, db, "statements", "close", "--period", "2026-10"); code != 0 || !strings.Contains(out, "closed 2026-10") {
		t.Fatalf("close: %d %s %s", code, out, errOut)
	}
	if n := pgCount(t, db, "SELECT count(*) FROM audit_log WHERE entity = 'statement' AND action = 'close'"); n != 1 {
		t.Errorf("audit entries for the close: %d", n)
	}
	if code, _, errOut := cliRun(t, db, "statements", "close", "--period", "2026-10"); code == 0 || !strings.Contains(errOut, "already closed") {
		t.Fatalf("close twice: %d %s", code, errOut)
	}
	for _, format := range []string{"csv", "xlsx", "json"} {
		var files []string
		for _, dir := range []string{t.TempDir(), t.TempDir()} {
			code, out, errOut := cliRun(t, db, "statements", "export", "--period", "2026-10", "--format", format, "--out", dir)
			if code != 0 {
				t.Fatalf("export %s: %s", format, errOut)
			}
			files = append(files, strings.TrimSpace(out))
		}
		a, errA := os.ReadFile(files[0])
		b, errB := os.ReadFile(files[1])
		if errA != nil || errB != nil || string(a) != string(b) || filepath.Base(files[0]) != filepath.Base(files[1]) ||
			!strings.Contains(filepath.Base(files[0]), "2026-10") {
			t.Fatalf("%s exports differ or are misnamed: %v %v", format, files, []error{errA, errB})
		}
	}
}

// TestStatementsCommandsMissingFXRates: October has a credited USD
// purchase (terms in EUR) on a day with no ECB rate. `xpromo statements
// build|close|export --period 2026-10`, as the README prints them, exit
// non-zero naming the currency-day and close nothing; after `xpromo fx load
// FILE` the close goes through.
func TestStatementsCommandsMissingFXRates(t *testing.T) {
	db := newDB(t)
	seed(t, db)
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	setAcmeTerms(t, db, catalog.Terms{EffectiveFrom: start, StartDate: start, Currency: "EUR",
		InboundCPA: decimal.RequireFromString("2.50"), InboundRevSharePct: decimal.NewFromInt(10)})
	signup, purchase := time.Date(2026, 10, 2, 9, 0, 0, 0, time.UTC), time.Date(2026, 10, 5, 10, 0, 0, 0, time.UTC)
	insertRows(t, db, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "outcome", "partnership", "partner", "country", "direction", "terms_version", "revenue", "currency", "computed_at", "version"),
		[]any{"c1", signup, "signup", "ours", "new_user", "acme-de", "acme", "DE", "inbound", uint32(1), decimal.Zero, "", signup, uint64(1)},
		[]any{"c2", purchase, "purchase", "ours", "credited", "acme-de", "acme", "DE", "inbound", uint32(1), decimal.RequireFromString("870.81"), "USD", purchase, uint64(1)})
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
	if n := pgCount(t, db, "SELECT count(*) FROM statements"); n != 0 {
		t.Fatalf("a refused close stored %d statements", n)
	}
	if n := pgCount(t, db, "SELECT count(*) FROM audit_log WHERE entity = 'statement'"); n != 0 {
		t.Fatalf("a refused close audited %d times", n)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("a refused export wrote %v", files)
	}

	// The ECB's rates of Friday 2 October serve Monday the 5th.
	fxLoad(t, db, "Date, USD, \n02 October 2026, 1.1000, \n", "loaded 1 rates")
	// 870.81 USD / 1.1 = 791.65 EUR of revenue.
	if code, out, errOut := cliRun(t, db, "statements", "build", "--period", "2026-10"); code != 0 || !strings.Contains(out, "791.65") {
		t.Fatalf("build with the USD rate loaded: %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if code, out, errOut := cliRun(t, db, "statements", "close", "--period", "2026-10"); code != 0 || !strings.Contains(out, "closed 2026-10") {
		t.Fatalf("close with the USD rate loaded: %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

// setAcmeTerms sets the seeded partnership acme-de's terms.
func setAcmeTerms(t *testing.T, db *testenv.DB, terms catalog.Terms) {
	t.Helper()
	if _, err := catalog.NewStore(pgOf(db).Pool).WithClock(testenv.Clock()).SetTerms(context.Background(), "acme-de", terms, "test"); err != nil {
		t.Fatal(err)
	}
}
