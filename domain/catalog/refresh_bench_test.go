package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/notify"
	"github.com/xpromo/xpromo/lib/pgdb"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// benchLinks is the size of the catalog BenchmarkCatalogRefresh keeps
// current: BENCH_CATALOG_LINKS, default 1,000,000.
func benchLinks(b *testing.B) int {
	if v := os.Getenv("BENCH_CATALOG_LINKS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("BENCH_CATALOG_LINKS=%q", v)
		}
		return n
	}
	return 1_000_000
}

// BenchmarkCatalogRefresh measures what keeping a tracker's catalog of
// benchLinks links current costs: a whole load (how every tracker
// refreshed before changes were followed: the baseline) against one
// changed link followed by its change (Store.Changes and Snapshot.Apply).
// Each reports CPU seconds of this process per refresh and the time one
// takes; the setup reports the heap the snapshot holds.
func BenchmarkCatalogRefresh(b *testing.B) {
	ctx := context.Background()
	db := testenv.Postgres(b)
	s := NewStore(db.Pool)
	n := benchLinks(b)
	bulk := Bulk{
		Partners:     []Partner{{ID: "acme", Name: "Acme", Domains: []string{"acme.example"}, Status: StatusActive, Countries: []string{}}},
		Partnerships: []Partnership{{ID: "acme-de", Partner: "acme", Country: "DE", Direction: vocab.Both}},
		Links:        make([]Link, n),
	}
	for i := range bulk.Links {
		bulk.Links[i] = Link{Code: fmt.Sprintf("l%07d", i), Partnership: "acme-de", Partner: "acme", Direction: vocab.Outbound,
			URL: fmt.Sprintf("https://acme.example/offer/%d?utm_source=xp", i), Status: StatusActive, CreatedBy: "bench"}
	}
	t0 := time.Now()
	if err := s.Import(ctx, bulk); err != nil {
		b.Fatal(err)
	}
	bulk = Bulk{}
	b.Logf("imported %d links in %.1f s", n, time.Since(t0).Seconds())

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	snap, err := s.Load(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.Logf("snapshot of %d links: %.0f MiB of heap", snap.Links.Len(), float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))

	b.Run("whole load", func(b *testing.B) {
		cpu := cpuClock()
		for b.Loop() {
			if _, err := s.Load(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric((cpuClock()-cpu).Seconds()/float64(b.N), "cpu-s/refresh")
	})
	b.Run("one changed link", func(b *testing.B) {
		cur := snap
		cpu, i := time.Duration(0), 0
		for b.Loop() {
			b.StopTimer()
			url := fmt.Sprintf("https://acme.example/changed/%d", i)
			if _, err := s.UpdateLink(ctx, "l0000001", LinkChange{URL: &url}, "bench"); err != nil {
				b.Fatal(err)
			}
			i++
			c0 := cpuClock()
			b.StartTimer()
			d, err := s.Changes(ctx, cur.Rev)
			if err != nil {
				b.Fatal(err)
			}
			cur = cur.Apply(d, time.Now())
			b.StopTimer()
			cpu += cpuClock() - c0
			if got := cur.Lookup("l0000001").URL; got != url {
				b.Fatalf("after the change: %s, want %s", got, url)
			}
			b.StartTimer()
		}
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/refresh")
	})
	b.Run("change reach", func(b *testing.B) { benchChangeReach(b, db.URL, s) })
}

// reachPerLoop is how many changes one iteration of "change reach" makes:
// with make bench's -benchtime 5x, 200 changes, enough for a p99.
const reachPerLoop = 40

// benchChangeReach measures how long one changed link takes to reach a
// tracker, the way serve wires them: the writer's store announces the
// change over Redis pub/sub (lib/notify), the tracker's cache (its own
// pool, refreshing only when told) follows the change. From before
// UpdateLink until the tracker's Lookup answers the new URL; reported as
// p50, p99 and max in ms.
func benchChangeReach(b *testing.B, url string, writer *Store) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	rdb := testenv.NewRedis(b)
	n := notify.New(rdb.Client, rdb.Prefix+"catalog:changed", slog.New(slog.DiscardHandler))
	pool, err := pgdb.Open(ctx, url, false)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	tracker := NewCache(NewStore(pool), "", time.Hour, nil)
	if err := tracker.Start(ctx); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	subscribed := make(chan struct{}, 1)
	wg.Go(func() { tracker.Run(ctx) })
	wg.Go(func() {
		n.Watch(ctx, func() {
			tracker.Trigger()
			select {
			case subscribed <- struct{}{}:
			default:
			}
		})
	})
	<-subscribed // Watch wakes once when its subscription is up
	writer.OnChange(func(ctx context.Context) {
		if err := n.Publish(ctx); err != nil {
			b.Error(err)
		}
	})
	defer writer.OnChange(nil)

	var reach []time.Duration
	i := 0
	for b.Loop() {
		for range reachPerLoop {
			i++
			want := fmt.Sprintf("https://acme.example/reach/%d", i)
			t0 := time.Now()
			if _, err := writer.UpdateLink(ctx, "l0000002", LinkChange{URL: &want}, "bench"); err != nil {
				b.Fatal(err)
			}
			for tracker.Get().Lookup("l0000002").URL != want {
				if time.Since(t0) > 30*time.Second {
					b.Fatalf("change %d not at the tracker after 30 s", i)
				}
				time.Sleep(100 * time.Microsecond)
			}
			reach = append(reach, time.Since(t0))
		}
	}
	slices.Sort(reach)
	ms := func(q float64) float64 {
		return float64(reach[min(len(reach)-1, int(q*float64(len(reach))))].Microseconds()) / 1000
	}
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(ms(1), "max-ms")
	b.Logf("change reach over %d changes: p50 %.1f ms, p99 %.1f ms, max %.1f ms", len(reach), ms(0.5), ms(0.99), ms(1))
}

// cpuClock is the CPU time (user and system) this process has used: the
// cost of a refresh whatever the number of cores.
func cpuClock() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
