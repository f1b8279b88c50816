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
	db := testenv.ClickHouse(t)
	seed(t, db)
	ctx := context.Background()
	if _, err := catalog.NewStore(db.Conn).WithClock(testenv.Clock()).SetTerms(ctx, "acme-de", catalog.Terms{EffectiveFrom: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC),
		StartDate: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), Currency: "EUR", InboundCPA: decimal.RequireFromString("2.50")}, "test"); err != nil {
		t.Fatal(err)
	}
	b, err := db.Conn.PrepareBatch(ctx, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "outcome", "partnership", "partner", "country", "direction", "terms_version", "computed_at", "version"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 10, 10, 9, 0, 0, 0, time.UTC)
	for _, id := range []string{"c1", "c2", "c3"} {
		if err := b.Append(id, at, "signup", "ours", "new_user", "acme-de", "acme", "DE", "inbound", uint32(1), at, uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cliRun(t, db, "statements", "build", "--period", "2026-10"); code != 0 || !strings.Contains(out, "acme-de") || !strings.Contains(out, "7.50") {
		t.Fatalf("build: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := cliRun(t, db, "statements", "close", "--period", "2026-10"); code != 0 || !strings.Contains(out, "closed 2026-10") {
		t.Fatalf("close: %d %s %s", code, out, errOut)
	}
	if n := count(t, db, "SELECT count() FROM audit_log WHERE entity = 'statement' AND action = 'close'"); n != 1 {
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
