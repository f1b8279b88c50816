package reports_test

import (
	"context"
	"testing"
	"time"

	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestRebuildRollup empties hits_hourly (as a restore from backup would
// find it) and rebuilds it whole, then one month at a time: the rollup
// counts what the materialized view counted.
func TestRebuildRollup(t *testing.T) {
	db := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	oct := time.Date(2026, 10, 5, 10, 30, 0, 0, time.UTC)
	nov := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	b, err := db.Conn.PrepareBatch(ctx, schema.Hits.InsertOnly("id", "ts", "kind", "partnership", "direction", "visitor", "country", "ingested_at"))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []struct {
		id, ps string
		ts     time.Time
	}{{"h1", "de-a", oct}, {"h2", "de-a", oct.Add(time.Minute)}, {"h3", "de-a", nov}, {"h4", "", nov}} {
		if err := b.Append(h.id, h.ts, "click", h.ps, "inbound", "v1", "DE", h.ts); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	count := func() (rows, hits uint64) {
		t.Helper()
		if err := db.Conn.QueryRow(ctx, `SELECT count(), countMerge(hits) FROM hits_hourly`).Scan(&rows, &hits); err != nil {
			t.Fatal(err)
		}
		return rows, hits
	}
	// The view wrote one row per hour; the hit without a partnership is not rolled up.
	wantRows, wantHits := count()
	if wantRows != 2 || wantHits != 3 {
		t.Fatalf("view wrote %d rows for %d hits, want 2 for 3", wantRows, wantHits)
	}
	truncate := func() {
		t.Helper()
		if err := db.Conn.Exec(ctx, `TRUNCATE TABLE hits_hourly`); err != nil {
			t.Fatal(err)
		}
	}

	truncate()
	rows, hits, err := reports.RebuildRollup(ctx, db.Conn)
	if err != nil {
		t.Fatal(err)
	}
	if rows != wantRows || hits != wantHits {
		t.Errorf("RebuildRollup: %d rows for %d hits, want %d for %d", rows, hits, wantRows, wantHits)
	}

	truncate()
	if err := reports.RebuildRollupMonths(ctx, db.Conn, []uint32{202610}); err != nil {
		t.Fatal(err)
	}
	if rows, hits := count(); rows != 1 || hits != 2 {
		t.Errorf("after rebuilding 202610: %d rows for %d hits, want 1 for 2", rows, hits)
	}
	if err := reports.RebuildRollupMonths(ctx, db.Conn, []uint32{202610, 202611}); err != nil {
		t.Fatal(err)
	}
	if rows, hits := count(); rows != wantRows || hits != wantHits {
		t.Errorf("after rebuilding both months: %d rows for %d hits, want %d for %d", rows, hits, wantRows, wantHits)
	}
	if err := reports.RebuildRollupMonths(ctx, db.Conn, []uint32{2026}); err == nil {
		t.Error("RebuildRollupMonths accepted month 2026")
	}
}
