package catalog

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/xpromo/xpromo/domain/vocab"
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
	b.Logf("snapshot of %d links: %.0f MiB of heap", len(snap.Links), float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))

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
