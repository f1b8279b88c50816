package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/notify"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// unreachableURL is a PostgreSQL nobody listens on: connecting is refused.
const unreachableURL = "postgres://x:x@127.0.0.1:1/x?sslmode=disable"

func unreachableStore(t *testing.T) *Store {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), unreachableURL)
	if err != nil {
		t.Fatalf("pgxpool.New(%s): %v", unreachableURL, err)
	}
	t.Cleanup(pool.Close)
	return NewStore(pool)
}

func TestCacheStartAndRefresh(t *testing.T) {
	ctx, s := seededStore(t)
	if _, err := s.AddLink(ctx, Link{Code: "first", Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://acme.example/1"}, "test"); err != nil {
		t.Fatalf("AddLink: %v", err)
	}
	file := filepath.Join(t.TempDir(), "sub", "catalog.json")
	c := NewCache(s, file, time.Hour, testenv.Logger(t))
	c.fileEvery = 0 // every change written: TestCacheFileEvery checks the pace
	if err := c.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	r := c.Get().Lookup("first")
	if r == nil || r.Dest.String() != "https://acme.example/1" || r.Country != "DE" {
		t.Fatalf("after Start: Lookup(first) = %+v", r)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("Start did not write the disk copy: %v", err)
	}

	if _, err := s.AddLink(ctx, Link{Code: "second", Partnership: "acme-in", Direction: vocab.Inbound, URL: "https://ours.example/2"}, "test"); err != nil {
		t.Fatalf("AddLink: %v", err)
	}
	if r := c.Get().Lookup("second"); r != nil {
		t.Fatalf("before Refresh: Lookup(second) = %+v, want nil (the snapshot is fixed)", r)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	r = c.Get().Lookup("second")
	if r == nil || r.Country != "FR" || r.Direction != vocab.DirectionInbound {
		t.Fatalf("after Refresh: Lookup(second) = %+v", r)
	}
	if c.Get().Lookup("first") == nil {
		t.Fatalf("after Refresh: Lookup(first) = nil")
	}
	// The disk copy follows the refresh.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk Snapshot
	if err := json.Unmarshal(b, &onDisk); err != nil {
		t.Fatalf("disk copy: %v", err)
	}
	if _, ok := onDisk.Links.Get("second"); !ok || onDisk.Links.Len() != 2 {
		t.Fatalf("disk copy links = %v, want first and second", onDisk.Links.Keys())
	}
}

// TestCacheFileEvery: the disk copy costs a whole marshal of the catalog,
// so changes are written at most every FileEvery, by the refresh that
// finds the copy due, with or without a new change; a whole load always
// writes.
func TestCacheFileEvery(t *testing.T) {
	ctx, s := seededStore(t)
	now := testenv.Now()
	s.WithClock(func() time.Time { return now })
	file := filepath.Join(t.TempDir(), "catalog.json")
	c := NewCache(s, file, time.Hour, testenv.Logger(t))
	if err := c.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	onDisk := func() int {
		t.Helper()
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var snap Snapshot
		if err := json.Unmarshal(b, &snap); err != nil {
			t.Fatalf("disk copy: %v", err)
		}
		return snap.Links.Len()
	}
	for i, step := range []struct {
		name    string
		advance time.Duration
		add     bool
		want    int // links in the disk copy after the refresh
	}{
		{"a change within FileEvery is not written", time.Second, true, 0},
		{"nor the next one", 10 * time.Second, true, 0},
		{"once due, a refresh without a change writes", FileEvery, false, 2},
		{"a change right after is not", time.Second, true, 2},
		{"a whole load writes whatever the pace", FullEvery, false, 3},
	} {
		now = now.Add(step.advance)
		if step.add {
			addLinks(t, ctx, s, Link{Code: fmt.Sprintf("l%d", i), Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://acme.example/"})
		}
		if err := c.Refresh(ctx); err != nil {
			t.Fatalf("%s: Refresh: %v", step.name, err)
		}
		if got := onDisk(); got != step.want {
			t.Fatalf("%s: %d links on disk, want %d", step.name, got, step.want)
		}
	}
}

func TestCacheRunPicksUpNewLinks(t *testing.T) {
	ctx, s := seededStore(t)
	c := NewCache(s, "", 20*time.Millisecond, testenv.Logger(t))
	if err := c.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(runCtx) }()
	defer func() { stop(); wg.Wait() }()

	if _, err := s.AddLink(ctx, Link{Code: "later", Partnership: "acme-out", Direction: vocab.Outbound, URL: "https://acme.example/later"}, "test"); err != nil {
		t.Fatalf("AddLink: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Get().Lookup("later") == nil {
		if time.Now().After(deadline) {
			t.Fatalf("Run did not pick up the new link within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCacheFallsBackToDiskCopy(t *testing.T) {
	ctx, s := seededStore(t)
	addLinks(t, ctx, s,
		Link{Code: "out", Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://www.acme.example/offer", Campaign: "c"},
		Link{Code: "in", Partnership: "acme-in", Direction: vocab.Inbound, URL: "https://ours.example/in"},
	)
	file := filepath.Join(t.TempDir(), "catalog.json")
	first := NewCache(s, file, time.Hour, testenv.Logger(t))
	if err := first.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}

	// Loading from an unreachable ClickHouse fails, and fails fast.
	down := unreachableStore(t)
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	start := time.Now()
	_, err := down.Load(lctx)
	cancel()
	if err == nil {
		t.Fatalf("Load from %s succeeded", unreachableURL)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Load from %s took %v, want a fast failure", unreachableURL, took)
	}

	second := NewCache(down, file, time.Hour, testenv.Logger(t))
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := second.Start(sctx); err != nil {
		t.Fatalf("Start with the disk copy: %v", err)
	}
	tests := []struct {
		code      string
		country   string
		direction vocab.Direction
		dest      string
	}{
		{"out", "DE", vocab.DirectionOutbound, "https://www.acme.example/offer"},
		{"in", "FR", vocab.DirectionInbound, "https://ours.example/in"},
	}
	for _, tt := range tests {
		r := second.Get().Lookup(tt.code)
		if r == nil {
			t.Fatalf("from the disk copy: Lookup(%q) = nil", tt.code)
		}
		if r.Country != tt.country || r.Direction != tt.direction || r.Dest == nil || r.Dest.String() != tt.dest || r.Partner != "acme" {
			t.Errorf("from the disk copy: Lookup(%q) = %+v, want %s %v %s", tt.code, r, tt.country, tt.direction, tt.dest)
		}
	}
	if got, want := second.Get().LoadedAt, first.Get().LoadedAt; !got.Equal(want) {
		t.Errorf("disk copy LoadedAt = %v, want the first cache's %v", got, want)
	}
	if r := second.Get().Lookup("nope"); r != nil {
		t.Errorf("Lookup(nope) = %+v", r)
	}
	// A failed refresh keeps serving the disk copy.
	if err := second.Refresh(sctx); err == nil {
		t.Fatalf("Refresh from %s succeeded", unreachableURL)
	}
	if second.Get().Lookup("out") == nil {
		t.Fatalf("after a failed Refresh: Lookup(out) = nil")
	}
}

func TestCacheStartWithNothing(t *testing.T) {
	tests := []struct {
		name string
		file func(t *testing.T) string
	}{
		{"no file configured", func(*testing.T) string { return "" }},
		{"file missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "missing.json") }},
		{"file corrupt", func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "corrupt.json")
			if err := os.WriteFile(f, []byte("{not json"), 0o644); err != nil {
				t.Fatal(err)
			}
			return f
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCache(unreachableStore(t), tt.file(t), time.Hour, testenv.Logger(t))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.Start(ctx); err != nil {
				t.Fatalf("Start = %v, want nil (start empty)", err)
			}
			snap := c.Get()
			if snap == nil {
				t.Fatalf("Get() = nil after Start")
			}
			if r := snap.Lookup("anything"); r != nil {
				t.Fatalf("Lookup = %+v, want nil", r)
			}
			if snap.Links.Len()+len(snap.Partners)+len(snap.Partnerships) != 0 {
				t.Fatalf("empty start has a catalog: %+v", snap)
			}
		})
	}
}

// With a one-hour interval only Trigger reloads: directly, or through a
// Redis notification (notify.Watch calls Trigger, as serve wires it).
func TestCacheTriggerReloadsAtOnce(t *testing.T) {
	db := testenv.Postgres(t)
	r := testenv.NewRedis(t)
	ctx := testCtx(t)
	c := NewCache(NewStore(db.Pool), "", time.Hour, testenv.Logger(t))
	if err := c.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() { c.Run(runCtx) })

	n := notify.New(r.Client, r.Prefix+"catalog:changed", testenv.Logger(t))
	base := c.loads.Load()
	wg.Go(func() { n.Watch(runCtx, c.Trigger) })
	// Watch wakes once on subscribing (messages may have been missed).
	testenv.WaitFor(t, time.Second, "a reload when the watcher subscribes", func() bool { return c.loads.Load() > base })
	time.Sleep(50 * time.Millisecond) // nothing else is pending

	tests := []struct {
		name string
		poke func(t *testing.T)
	}{
		{"Trigger", func(*testing.T) { c.Trigger() }},
		{"Redis notification", func(t *testing.T) {
			if err := n.Publish(ctx); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := c.loads.Load()
			start := time.Now()
			tt.poke(t)
			testenv.WaitFor(t, time.Second, "a reload", func() bool { return c.loads.Load() > before })
			t.Logf("reloaded %v after %s", time.Since(start), tt.name)
		})
	}

	// A burst of triggers coalesces: the one pending reload covers them all.
	before := c.loads.Load()
	for range 10 {
		c.Trigger()
	}
	testenv.WaitFor(t, time.Second, "a reload after a burst", func() bool { return c.loads.Load() > before })
	time.Sleep(200 * time.Millisecond)
	if got := c.loads.Load() - before; got > 2 {
		t.Fatalf("10 triggers in a burst gave %d reloads, want 1 or 2", got)
	}
}
