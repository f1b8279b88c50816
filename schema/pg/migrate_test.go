package pg_test

import (
	"context"
	"sync"
	"testing"

	"github.com/xpromo/xpromo/schema/pg"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// Two `xpromo migrate` at once: the advisory lock makes one apply every
// migration and the other find nothing to do; a third run changes nothing.
func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	ctx := context.Background()
	db := testenv.EmptyPostgres(t)
	all, err := pg.All()
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		runs [][]string
	)
	for range 2 {
		wg.Go(func() {
			done, err := pg.Migrate(ctx, db.Pool)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			runs = append(runs, done)
			mu.Unlock()
		})
	}
	wg.Wait()
	if n := len(runs[0]) + len(runs[1]); n != len(all) || (len(runs[0]) != 0 && len(runs[1]) != 0) {
		t.Fatalf("two concurrent runs applied %q and %q; want all %d by one of them", runs[0], runs[1], len(all))
	}
	again, err := pg.Migrate(ctx, db.Pool)
	if err != nil || len(again) != 0 {
		t.Fatalf("third run: %q, %v; want nothing applied", again, err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM `+pg.VersionTable).Scan(&n); err != nil || n != len(all) {
		t.Fatalf("%d version rows (%v); want %d", n, err, len(all))
	}
}
