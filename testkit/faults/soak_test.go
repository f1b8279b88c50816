package faults

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/reports"
)

// soakSample is one reading of the soak: each process's RSS, the
// goroutines of the tracker and the ingester, the stream backlog.
type soakSample struct {
	at                   time.Duration
	rss                  map[string]int64
	goroutines           map[string]float64
	entries              int64
	journal, windowBytes float64
	// Redis's used_memory and its number of keys: most keys are the
	// repeat checks of API conversions, kept 90 days by design, so Redis
	// grows with them; what must stay flat is the rest.
	redisUsed, redisKeys int64
}

// flat reports whether the last third's median is within 20% (plus slack,
// for small values) of the middle third's: no growth after warm-up (the
// first third).
func flat(vals []float64, slack float64) (mid, last float64, ok bool) {
	return flatBy(vals, slack, func(v []float64) float64 {
		s := slices.Clone(v)
		slices.Sort(s)
		return s[len(s)/2]
	})
}

// flatFloor is flat on each third's minimum. Goroutines are mostly the
// requests in flight, which rise and fall with every latency hiccup of a
// shared machine; a leak raises the floor, which the hiccups do not.
func flatFloor(vals []float64, slack float64) (mid, last float64, ok bool) {
	return flatBy(vals, slack, slices.Min[[]float64])
}

func flatBy(vals []float64, slack float64, of func([]float64) float64) (mid, last float64, ok bool) {
	n := len(vals)
	if n < 3 {
		return 0, 0, false
	}
	mid, last = of(vals[n/3:2*n/3]), of(vals[2*n/3:])
	return mid, last, last <= mid*1.2+slack
}

// The soak: SOAK (default 90s; `make soak` runs 30m) at half capacity.
// Memory of every process flat after warm-up, no goroutine growth, the
// stream backlog bounded, everything drained at the end, and the reports
// count exactly what was answered.
func TestSoak(t *testing.T) {
	d := 90 * time.Second
	if v := os.Getenv("SOAK"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d < 30*time.Second {
			t.Fatalf("SOAK=%q: want a duration of at least 30s", v)
		}
	}
	every := min(max(d/30, 3*time.Second), 30*time.Second)
	r := loadRate(t)
	e := NewEnv(t, bin, Options{AOF: true})
	ctx := context.Background()
	redisPid, err := e.RedisPid(ctx)
	if err != nil {
		t.Fatal(err)
	}
	load := &Load{Base: e.Base, Token: e.Token, Rate: r}
	start := time.Now()
	load.Start()
	var samples []soakSample
	for time.Since(start) < d {
		time.Sleep(every)
		s := soakSample{at: time.Since(start).Round(time.Second), rss: map[string]int64{}, goroutines: map[string]float64{}}
		for name, pid := range map[string]int{"tracker": e.Tracker.Pid(), "ingester": e.Ingester.Pid(), "redis": redisPid} {
			if s.rss[name], err = RSS(pid); err != nil {
				t.Fatalf("%s RSS: %v", name, err)
			}
		}
		tm, err := e.TrackerMetrics()
		if err != nil {
			t.Fatal(err)
		}
		im, err := e.IngesterMetrics()
		if err != nil {
			t.Fatal(err)
		}
		s.goroutines["tracker"], s.goroutines["ingester"] = tm["go_goroutines"], im["go_goroutines"]
		// The tracker keeps a goroutine per open client connection, and
		// the generator's pool of kept-alive connections grows to its
		// peak concurrency: a leak is what grows beyond them.
		conns, err := ServedConns(e.Tracker.Pid(), e.Port)
		if err != nil {
			t.Fatal(err)
		}
		s.goroutines["tracker (net of connections)"] = tm["go_goroutines"] - float64(conns)
		s.journal = tm["xpromo_journal_bytes"]
		if s.entries, _, err = e.Backlog(ctx); err != nil {
			t.Fatal(err)
		}
		s.redisUsed = usedMemory(t, e)
		if s.redisKeys, err = e.RDB.DBSize(ctx).Result(); err != nil {
			t.Fatal(err)
		}
		samples = append(samples, s)
	}
	load.Stop()
	stopped := time.Now()
	for !e.Drained(ctx) {
		if time.Since(stopped) > 2*time.Minute {
			t.Fatal("not drained 2 minutes after the load stopped")
		}
		time.Sleep(200 * time.Millisecond)
	}
	answers := load.Answers()
	var apiAnswered int64
	for _, a := range answers {
		if a.Class == OK && a.Kind == APIConv {
			apiAnswered++
		}
	}
	seen, apiSeen, perKey := repeatKeys(t, e)
	// The mark of a conversion answered 503 is removed before the answer
	// when Redis allows, else in the background (tracker/conversion
	// ForgetGiveUp): give that background work time once the load stops.
	for waited := 0; apiSeen > apiAnswered && waited < 30; waited++ {
		time.Sleep(time.Second)
		seen, apiSeen, perKey = repeatKeys(t, e)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Soak: %v at %.0f req/s (%d requests), a sample every %v.\n\n", d, r, len(answers), every)
	b.WriteString("| t | tracker RSS | ingester RSS | redis RSS | tracker goroutines | ingester goroutines | stream entries | journal bytes |\n")
	b.WriteString("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	series := map[string][]float64{}
	var entries []float64
	for _, s := range samples {
		fmt.Fprintf(&b, "| %v | %.1f MiB | %.1f MiB | %.1f MiB | %.0f | %.0f | %d | %.0f |\n", s.at,
			float64(s.rss["tracker"])/(1<<20), float64(s.rss["ingester"])/(1<<20), float64(s.rss["redis"])/(1<<20),
			s.goroutines["tracker"], s.goroutines["ingester"], s.entries, s.journal)
		for name, v := range s.rss {
			series[name+" RSS"] = append(series[name+" RSS"], float64(v))
		}
		for name, v := range s.goroutines {
			series[name+" goroutines"] = append(series[name+" goroutines"], v)
		}
		entries = append(entries, float64(s.entries))
		series["redis memory without repeat keys"] = append(series["redis memory without repeat keys"], float64(s.redisUsed)-float64(s.redisKeys)*perKey)
	}
	b.WriteString("\n")
	names := make([]string, 0, len(series))
	for n := range series {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		slack, check, what := 8.0*(1<<20), flat, "median" // RSS: a few MiB of allocator noise
		if strings.HasSuffix(n, "goroutines") {
			slack, check, what = 10, flatFloor, "minimum"
		}
		if n == "tracker goroutines" {
			// Shown; checked net of its connections (below).
			mid, last, _ := check(series[n], slack)
			fmt.Fprintf(&b, "- %s: %s %.0f (middle third) -> %.0f (last third): checked net of its open connections\n", n, what, mid, last)
			continue
		}
		mid, last, ok := check(series[n], slack)
		verdict := "flat"
		if n == "redis RSS" {
			// Redis grows by the repeat-check keys (below); its RSS is
			// shown, and the memory without those keys is what must be flat.
			fmt.Fprintf(&b, "- %s: median %.1f (middle third) -> %.1f (last third): not checked (holds the repeat keys)\n", n, scale(n, mid), scale(n, last))
			continue
		}
		if !ok {
			verdict = "GROWS"
			t.Errorf("%s grows after warm-up: %s %.0f in the middle third, %.0f in the last", n, what, mid, last)
		}
		fmt.Fprintf(&b, "- %s: %s %.1f (middle third) -> %.1f (last third): %s\n", n, what, scale(n, mid), scale(n, last), verdict)
	}
	// A sample lands anywhere in a batch's life: up to a flush window of
	// arrivals waits for it, and more arrive while it is inserted and
	// acknowledged. Two windows of arrivals (an entry holds one request or
	// more) is the noise; a backlog that stops draining grows by the whole
	// rate, a third of the run's arrivals between the thirds.
	mid, last, ok := flat(entries, r*(2*ingestFlush).Seconds())
	fmt.Fprintf(&b, "- stream entries: median %.0f -> %.0f, max %.0f: %s\n", mid, last, slices.Max(entries), map[bool]string{true: "bounded", false: "GROWS"}[ok])
	if !ok {
		t.Errorf("the stream backlog grows: median %.0f in the middle third, %.0f in the last", mid, last)
	}
	var pixelConvs int64
	for _, a := range answers {
		if a.Class == OK && a.Kind == PixelConv {
			pixelConvs++
		}
	}
	// One key per API conversion answered, exactly (a request answered 503
	// leaves none); the pixel marks its orders too, in the background and
	// best effort, so at most one per pixel conversion answered.
	fmt.Fprintf(&b, "- redis repeat-check keys: %d at the end, %.0f bytes each: %d for the %d API conversions answered, %d for the %d pixel conversions, each expiring\n",
		seen, perKey, apiSeen, apiAnswered, seen-apiSeen, pixelConvs)
	if apiSeen != apiAnswered {
		t.Errorf("Redis holds %d repeat-check keys for %d API conversions answered", apiSeen, apiAnswered)
	}
	if seen-apiSeen > pixelConvs {
		t.Errorf("Redis holds %d repeat-check keys for %d pixel conversions answered", seen-apiSeen, pixelConvs)
	}

	st, err := CheckStored(ctx, e.DB.Conn, answers)
	if err != nil {
		t.Fatal(err)
	}
	row := Summarize("soak", answers, start, time.Now(), 100*time.Millisecond, st)
	// A retryable 503 (an API conversion's repeat check giving up during a
	// stall) promises nothing and is counted; anything but a success or
	// that is a failure, and so is a success not stored exactly once.
	if row.Bad != 0 || row.NoAnswer != 0 || row.Missing != 0 || row.Duplicated != 0 {
		t.Errorf("sent %d, answered %d, bad %d, no answer %d, missing %d, duplicated %d; errors %v", row.Sent, row.Answered, row.Bad, row.NoAnswer, row.Missing, row.Duplicated, BadSample(answers, 5))
	}
	var clicks, views uint64
	for _, a := range answers {
		switch {
		case a.Class == OK && a.Kind == Click:
			clicks++
		case a.Class == OK && a.Kind == View:
			views++
		}
	}
	now := time.Now().UTC()
	snap, err := catalog.NewStore(e.PG.Pool).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env, err := reports.NewEnv(ctx, e.DB.Conn, e.PG.Pool, snap)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := reports.VisitorsReport(ctx, env, reports.Params{From: now.AddDate(0, 0, -1), To: now})
	if err != nil {
		t.Fatal(err)
	}
	// Every row: each partnership and visitor country, the whole period as one.
	clicksCol := slices.IndexFunc(tab.Columns, func(c reports.Column) bool { return c.Name == "clicks" })
	viewsCol := slices.IndexFunc(tab.Columns, func(c reports.Column) bool { return c.Name == "views" })
	var rc, rv uint64
	for _, row := range tab.Rows {
		rc, rv = rc+row[clicksCol].(uint64), rv+row[viewsCol].(uint64)
	}
	fmt.Fprintf(&b, "- answered: %d clicks, %d views, %d pixel conversions, %d API conversions; %d retryable 503s; p99 %v; missing %d, duplicated %d\n",
		clicks, views, st.Stored[PixelConv]+st.Missing[PixelConv], st.Stored[APIConv]+st.Missing[APIConv], row.Retryable, row.P99.Round(100*time.Microsecond), row.Missing, row.Duplicated)
	fmt.Fprintf(&b, "- visitors report (each partnership and visitor country): %d clicks, %d views\n", rc, rv)
	if rc != clicks || rv != views {
		t.Errorf("report counts %d clicks and %d views; answered %d and %d", rc, rv, clicks, views)
	}
	if t.Failed() {
		b.WriteString("- Result: FAILED (see the test log)\n")
	} else {
		b.WriteString("- Result: every check held\n")
	}
	fmt.Println(b.String())
	if doc := os.Getenv("FAULTS_DOC"); doc != "" {
		if err := WriteSection(doc, "soak", b.String()); err != nil {
			t.Error(err)
		}
	}
}

// repeatKeys counts the repeat-check keys of conversions in Redis and
// measures the memory of a sample of them; each must expire.
func repeatKeys(t *testing.T, e *Env) (n, api int64, perKey float64) {
	t.Helper()
	ctx := context.Background()
	var sampled, bytes int64
	iter := e.RDB.Scan(ctx, 0, e.Prefix+"seen:*", 10000).Iterator()
	for iter.Next(ctx) {
		n++
		if strings.Contains(iter.Val(), ":api-") {
			api++
		}
		if sampled < 1000 {
			k := iter.Val()
			ttl, err := e.RDB.TTL(ctx, k).Result()
			if err != nil || ttl <= 0 {
				t.Errorf("repeat key %s: TTL %v, %v; want one", k, ttl, err)
			}
			m, err := e.RDB.MemoryUsage(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			sampled, bytes = sampled+1, bytes+m
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if sampled > 0 {
		perKey = float64(bytes) / float64(sampled)
	}
	return n, api, perKey
}

func scale(name string, v float64) float64 {
	if strings.HasSuffix(name, "RSS") || strings.HasPrefix(name, "redis memory") {
		return v / (1 << 20)
	}
	return v
}
