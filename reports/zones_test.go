package reports_test

import (
	"context"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xpromo/xpromo/lib/pgdb"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// A server's Zones goes on with the zones it read while PostgreSQL is
// unreachable, tries again after the pause, and sees a change once it is
// back; with nothing read yet it reports the outage.
func TestZonesThroughAnOutage(t *testing.T) {
	ctx := context.Background()
	pg := testenv.Postgres(t)
	if err := reports.SetZone(ctx, pg.Pool, "DE", "Europe/Berlin", "test"); err != nil {
		t.Fatal(err)
	}
	// A pool whose connections can be cut: down refuses every connect,
	// Reset drops the connections it holds.
	var down atomic.Bool
	cfg, err := pgxpool.ParseConfig(pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if down.Load() {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		return dial(ctx, network, addr)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	zoneOf := func(z *reports.Zones) string {
		t.Helper()
		got, err := z.Load(ctx)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if got["DE"] == nil {
			return ""
		}
		return got["DE"].String()
	}

	z := reports.NewZones(pool, testenv.Logger(t)).WithClock(clock)
	if got := zoneOf(z); got != "Europe/Berlin" {
		t.Fatalf("DE in %q, want Europe/Berlin", got)
	}

	down.Store(true)
	pool.Reset()
	if got := zoneOf(z); got != "Europe/Berlin" {
		t.Errorf("DE during the outage: %q, want the zone read before", got)
	}
	if _, err := reports.NewZones(pool, nil).Load(ctx); err == nil || !pgdb.Unavailable(err) {
		t.Errorf("Load with no copy during the outage: %v, want PostgreSQL unavailable", err)
	}

	down.Store(false)
	if err := reports.SetZone(ctx, pg.Pool, "DE", "Europe/Paris", "test"); err != nil {
		t.Fatal(err)
	}
	if got := zoneOf(z); got != "Europe/Berlin" {
		t.Errorf("DE within the pause after a failed read: %q, want the copy (no new try yet)", got)
	}
	now = now.Add(6 * time.Second)
	if got := zoneOf(z); got != "Europe/Paris" {
		t.Errorf("DE after the pause, PostgreSQL back: %q, want Europe/Paris", got)
	}
}
