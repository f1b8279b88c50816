package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Form is how long things last: the short form runs in CI, the full form
// (FAULTS_FORM=full, `make faults`) has the durations.
type Form struct {
	Name             string
	Pre, Post        time.Duration // load before the fault and after recovery
	RedisUnreachable time.Duration
	ClickHouseDown   time.Duration
	InsertErrors     time.Duration
	DiskFull         time.Duration
	MaxMemory        time.Duration
	PostgresDown     time.Duration
	DrainTimeout     time.Duration
	Goal             time.Duration // latency goal of a success answer
}

// FormFromEnv reads FAULTS_FORM (short or full; default short) and
// FAULTS_CH_DOWN, a ClickHouse outage length that overrides the form's (to
// study the long outage without the whole full form).
func FormFromEnv() (Form, error) {
	f, err := formByName(os.Getenv("FAULTS_FORM"))
	if err != nil {
		return f, err
	}
	if v := os.Getenv("FAULTS_CH_DOWN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Form{}, fmt.Errorf("FAULTS_CH_DOWN=%q: want a positive duration such as 4m", v)
		}
		f.ClickHouseDown = d
	}
	return f, nil
}

func formByName(v string) (Form, error) {
	switch v {
	case "", "short":
		return Form{Name: "short", Pre: 3 * time.Second, Post: 3 * time.Second, RedisUnreachable: 10 * time.Second,
			ClickHouseDown: 30 * time.Second, InsertErrors: 8 * time.Second, DiskFull: 6 * time.Second,
			MaxMemory: 6 * time.Second, PostgresDown: 10 * time.Second, DrainTimeout: 3 * time.Minute, Goal: 100 * time.Millisecond}, nil
	case "full":
		return Form{Name: "full", Pre: 15 * time.Second, Post: 15 * time.Second, RedisUnreachable: 60 * time.Second,
			ClickHouseDown: 10 * time.Minute, InsertErrors: 60 * time.Second, DiskFull: 30 * time.Second,
			MaxMemory: 30 * time.Second, PostgresDown: 60 * time.Second, DrainTimeout: 10 * time.Minute, Goal: 100 * time.Millisecond}, nil
	default:
		return Form{}, fmt.Errorf("FAULTS_FORM=%q: want short or full", v)
	}
}

// Fault is one fault: Inject breaks something and repairs it, returning a
// note for the table.
type Fault struct {
	Name   string
	Opts   Options
	Setup  func(t testing.TB, o *Options) // before the Env starts (e.g. mount a tmpfs)
	Inject func(t testing.TB, e *Env, f Form) string
	// Lossy: answered hits may be missing, but never more than the tracker
	// reported as not kept.
	Lossy bool
	// MayWait: the fault is allowed captures slower than MaxAnswer (see
	// CheckMax); only the ClickHouse outage and disk full.
	MayWait bool
}

// sample is one monitor reading.
type sample struct {
	at       time.Time
	entries  int64   // stream entries in Redis, -1 unknown
	journal  float64 // tracker journal bytes, -1 unknown
	spilling float64
	lost     float64 // tracker's xpromo_hits_lost_total, cumulated across restarts
	ingested float64 // ingester's xpromo_ingested_total, cumulated across restarts
	// Redis's view, for the timeline of slow stretches: used memory
	// (bytes, -1 unknown) and whether it is rewriting its AOF or saving.
	redisMem  int64
	redisFork bool
	// The tracker's own count of answers and of those over the latency
	// goal (its handlers' time; reset by a restart), -1 unknown.
	answered, slow float64
}

// monitor samples the backlog every 200 ms.
type monitor struct {
	mu      sync.Mutex
	samples []sample
	stop    chan struct{}
	done    chan struct{}
}

func startMonitor(e *Env, goal time.Duration) *monitor {
	// The tracker's histogram has a bucket at the goal (100 ms).
	goalBucket := fmt.Sprintf(`xpromo_http_request_duration_seconds_bucket{le="%g"}`, goal.Seconds())
	m := &monitor{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		var lostBase, lostLast, ingBase, ingLast float64
		for {
			s := sample{at: time.Now(), entries: -1, journal: -1, redisMem: -1}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			if n, _, err := e.Backlog(ctx); err == nil {
				s.entries = n
			}
			s.redisMem, s.redisFork = e.redisState(ctx)
			cancel()
			s.answered, s.slow = -1, -1
			if tm, err := e.TrackerMetrics(); err == nil {
				s.journal, s.spilling = tm["xpromo_journal_bytes"], tm["xpromo_spilling"]
				n, ok1 := tm["xpromo_http_request_duration_seconds_count"]
				under, ok2 := tm[goalBucket]
				if ok1 && ok2 {
					s.answered, s.slow = n, n-under
				}
				if v := tm["xpromo_hits_lost_total"]; v < lostLast {
					lostBase += lostLast // the tracker restarted
					lostLast = v
				} else {
					lostLast = v
				}
			}
			if im, err := e.IngesterMetrics(); err == nil {
				if v := im["xpromo_ingested_total"]; v < ingLast {
					ingBase += ingLast
					ingLast = v
				} else {
					ingLast = v
				}
			}
			s.lost, s.ingested = lostBase+lostLast, ingBase+ingLast
			m.mu.Lock()
			m.samples = append(m.samples, s)
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *monitor) end() []sample {
	close(m.stop)
	<-m.done
	return m.samples
}

// Outcome is a fault run's row plus what the assertions need.
type Outcome struct {
	Row
	Answers      []Answer
	Stored       Stored
	RetryNotKept int // 503 answers saying the hit was not kept
	NoAnswerBy   [kinds]int
	// API conversions sent once but answered (and stored) marked duplicate.
	MarkedDuplicate int
	LateBy          [kinds]int
	DrainedOK       bool
	Skipped         int64
	PeakEntries     int64
	PeakJournal     float64
	DrainRowsPerS   float64
}

// RunFault runs one fault under load at rate and checks the invariant.
func RunFault(t testing.TB, bin string, f Fault, rate float64, form Form) Outcome {
	t.Helper()
	o := f.Opts
	if f.Setup != nil {
		f.Setup(t, &o)
	}
	e := NewEnv(t, bin, o)
	mon := startMonitor(e, form.Goal)
	load := &Load{Base: e.Base, Token: e.Token, Rate: rate}
	load.Start()
	time.Sleep(form.Pre)
	from := time.Now()
	note := f.Inject(t, e, form)
	to := time.Now()
	t.Logf("%s: fault from %s for %v: %s", f.Name, from.Format("15:04:05.000"), to.Sub(from).Round(time.Millisecond), note)
	time.Sleep(form.Post)
	load.Stop()
	ctx := context.Background()
	deadline := time.Now().Add(form.DrainTimeout)
	drained := false
	for time.Now().Before(deadline) {
		if e.Drained(ctx) {
			drained = true
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(400 * time.Millisecond) // one more monitor sample after draining
	samples := mon.end()
	stalls := e.redisStalls(ctx)
	out := Outcome{Answers: load.Answers(), DrainedOK: drained, Skipped: load.Skipped()}
	st, err := CheckStored(ctx, e.DB.Conn, out.Answers)
	if err != nil {
		t.Fatal(err)
	}
	out.Stored = st
	// "During the fault": until a second after the repair, which covers
	// the restart of a killed process.
	out.Row = Summarize(f.Name, out.Answers, from, to.Add(time.Second), form.Goal, st)
	if lines := timeline(out.Answers, samples, stalls, from.Add(-form.Pre), 5*time.Second, form.Goal, 40); len(lines) > 0 {
		t.Logf("%s: windows of 5 s (from the load's start) with more than 0.5%% of answers later than %v:\n%s",
			f.Name, form.Goal, strings.Join(lines, "\n"))
	}
	for _, a := range out.Answers {
		if a.Class == Retryable && a.NotKept {
			out.RetryNotKept++
		}
		if a.Class == NoAnswer {
			out.NoAnswerBy[a.Kind]++
		}
		if a.Class == OK && a.Latency > form.Goal {
			out.LateBy[a.Kind]++
		}
		if a.MarkedDuplicate {
			out.MarkedDuplicate++
		}
	}
	// Drain: from the fault's end until the journal is empty and the
	// streams are back to their size before the fault.
	var baseline int64
	var drainAt time.Time
	var ingAtEnd, ingFrom float64
	var ingStart time.Time
	var prev sample
	for _, s := range samples {
		switch {
		case s.at.Before(from):
			if s.at.After(from.Add(-form.Pre / 2)) {
				baseline = max(baseline, s.entries)
			}
		default:
			out.PeakEntries = max(out.PeakEntries, s.entries)
			out.PeakJournal = max(out.PeakJournal, s.journal)
			if !s.at.Before(to) && drainAt.IsZero() {
				// The drain rate runs from the first sample after the repair
				// that shows rows moving (the ingester's retry may still be
				// sleeping) until the backlog is back to its size before.
				if ingStart.IsZero() && ingAtEnd != 0 && s.ingested > ingAtEnd {
					ingStart, ingFrom = prev.at, prev.ingested
				}
				if ingAtEnd == 0 {
					ingAtEnd = max(s.ingested, 1)
				}
				if s.journal == 0 && s.spilling == 0 && s.entries >= 0 && s.entries <= baseline {
					drainAt = s.at
					if d := s.at.Sub(ingStart).Seconds(); !ingStart.IsZero() && d > 0.5 {
						out.DrainRowsPerS = (s.ingested - ingFrom) / d
					}
				}
			}
		}
		out.NotKept = int(s.lost)
		prev = s
	}
	if !drainAt.IsZero() {
		out.Drain = max(drainAt.Sub(to), time.Millisecond)
	}
	if note != "" {
		out.Note = note
	}
	if out.PeakJournal > 0 {
		out.Note = strings.TrimPrefix(out.Note+fmt.Sprintf("; journal peak %.1f MiB", out.PeakJournal/(1<<20)), "; ")
	}
	if out.DrainRowsPerS > 0 && to.Sub(from) > 20*time.Second {
		out.Note += fmt.Sprintf("; backlog peak %d entries, drained at %.0f rows/s", out.PeakEntries, out.DrainRowsPerS)
	}
	if out.MarkedDuplicate > 0 {
		out.Note += fmt.Sprintf("; %d API conversions sent once were answered and stored marked duplicate", out.MarkedDuplicate)
	}
	if out.Skipped > 0 {
		out.Note += fmt.Sprintf("; %d requests not sent (generator at its in-flight cap)", out.Skipped)
	}
	return out
}

// stopRedis freezes the private redis-server (SIGSTOP): connections stay
// open and nothing answers, like a host that went away. The returned func
// resumes it.
func stopRedis(t testing.TB, e *Env) func() {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pid, err := e.RedisPid(ctx)
	if err != nil {
		t.Fatalf("redis pid: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP redis: %v", err)
	}
	var once sync.Once
	resume := func() { once.Do(func() { _ = syscall.Kill(pid, syscall.SIGCONT) }) }
	t.Cleanup(resume)
	return resume
}

func waitMetric(e *Env, name string, cond func(float64) bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if m, err := e.TrackerMetrics(); err == nil && cond(m[name]) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// Faults is the suite, in the order the issue lists them.
func Faults() []Fault {
	return []Fault{
		{Name: "tracker SIGKILL + restart", Opts: Options{AOF: true}, Inject: func(t testing.TB, e *Env, f Form) string {
			if err := e.Tracker.Kill(); err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			if err := e.Tracker.Start(); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("down %v", time.Since(t0).Round(time.Millisecond))
		}},
		{Name: "tracker SIGTERM (drain) + restart", Opts: Options{AOF: true}, Inject: func(t testing.TB, e *Env, f Form) string {
			t0 := time.Now()
			st, err := e.Tracker.Stop(30 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Success() {
				t.Errorf("tracker exit after SIGTERM: %v", st)
			}
			stopped := time.Since(t0)
			if err := e.Tracker.Start(); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("stopped in %v (exit %d), down %v", stopped.Round(time.Millisecond), st.ExitCode(), time.Since(t0).Round(time.Millisecond))
		}},
		{Name: "ingester SIGKILL mid-batch, twice", Opts: Options{AOF: true}, Inject: func(t testing.TB, e *Env, f Form) string {
			// 1: killed from outside in the middle of its work.
			if err := e.Ingester.Kill(); err != nil {
				t.Fatal(err)
			}
			// 2: kills itself right after an insert, before acknowledging it.
			if err := e.Ingester.Start("XPROMO_FAULT_KILL_AFTER_INSERTS=1"); err != nil && !strings.Contains(err.Error(), "exited") {
				t.Fatal(err)
			}
			st, err := e.Ingester.Wait(30 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if ws, ok := st.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("second ingester did not die by SIGKILL: %v", st)
			}
			if err := e.Ingester.Start(); err != nil {
				t.Fatal(err)
			}
			return "killed by SIGKILL, then killed itself after an insert before its ack"
		}},
		{Name: "Redis SIGKILL + restart (AOF)", Opts: Options{AOF: true}, Inject: func(t testing.TB, e *Env, f Form) string {
			e.Redis.Kill()
			time.Sleep(time.Second)
			e.Redis.Start()
			return "down 1 s"
		}},
		{Name: "Redis SIGKILL + restart (no AOF: data lost)", Opts: Options{AOF: false}, Inject: func(t testing.TB, e *Env, f Form) string {
			e.Redis.Kill()
			time.Sleep(time.Second)
			e.Redis.Start()
			ok := waitMetric(e, "xpromo_hits_replayed_total", func(v float64) bool { return v > 0 }, 15*time.Second)
			m, _ := e.TrackerMetrics()
			return fmt.Sprintf("down 1 s; %.0f hits re-sent from the replay window/journal (seen %v)", m["xpromo_hits_replayed_total"], ok)
		}},
		{Name: "Redis unreachable", Opts: Options{AOF: true}, Inject: func(t testing.TB, e *Env, f Form) string {
			resume := stopRedis(t, e)
			time.Sleep(f.RedisUnreachable)
			resume()
			return fmt.Sprintf("SIGSTOP for %v", f.RedisUnreachable)
		}},
		{Name: "ClickHouse stopped", MayWait: true, Opts: Options{AOF: true}, Inject: func(t testing.TB, e *Env, f Form) string {
			e.CH.Set(Down, 0)
			time.Sleep(f.ClickHouseDown)
			e.CH.Set(Up, 0)
			return fmt.Sprintf("down %v", f.ClickHouseDown)
		}},
		{Name: "ClickHouse errors for some inserts", Opts: Options{AOF: true}, Inject: func(t testing.TB, e *Env, f Form) string {
			e.CH.Set(Flaky, 0.5)
			time.Sleep(f.InsertErrors)
			e.CH.Set(Up, 0)
			return fmt.Sprintf("%d inserts cut (half mid-data, half with the answer dropped after the insert) in %v", e.CH.Cut(), f.InsertErrors)
		}},
		{Name: "spill journal disk full", Lossy: true, MayWait: true, Opts: Options{AOF: true}, Setup: mountTmpfs("512k"),
			Inject: func(t testing.TB, e *Env, f Form) string {
				resume := stopRedis(t, e)
				t0 := time.Now()
				time.Sleep(f.DiskFull)
				// The load is half the capacity measured at the start, which
				// a busy machine measures low: the freeze then lasts until the
				// journal has filled up (a hit not kept), a minute at most.
				waitMetric(e, "xpromo_hits_lost_total", func(v float64) bool { return v > 0 }, time.Minute)
				resume()
				return fmt.Sprintf("512 KiB tmpfs, Redis frozen %v", time.Since(t0).Round(100*time.Millisecond))
			}},
		{Name: "Redis maxmemory reached", Opts: Options{AOF: true}, Inject: func(t testing.TB, e *Env, f Form) string {
			ctx := context.Background()
			used := usedMemory(t, e)
			limit := used + 4<<20
			if err := e.RDB.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
				t.Fatal(err)
			}
			if err := e.RDB.ConfigSet(ctx, "maxmemory", strconv.FormatInt(limit, 10)).Err(); err != nil {
				t.Fatal(err)
			}
			// The backlog grows while ClickHouse is away until Redis refuses writes.
			e.CH.Set(Down, 0)
			t0 := time.Now()
			hit := waitMetric(e, "xpromo_spilling", func(v float64) bool { return v == 1 }, 2*time.Minute)
			reached := time.Since(t0)
			time.Sleep(f.MaxMemory)
			e.CH.Set(Up, 0)
			replayed := waitMetric(e, "xpromo_spilling", func(v float64) bool { return v == 0 }, 5*time.Minute)
			if err := e.RDB.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
				t.Fatal(err)
			}
			if !hit || !replayed {
				t.Errorf("maxmemory: OOM reached %v, journal replayed %v", hit, replayed)
			}
			return fmt.Sprintf("maxmemory = used + 4 MiB, reached %.1f s after ClickHouse stopped, held %v", reached.Seconds(), f.MaxMemory)
		}},
		{Name: "PostgreSQL stopped", Opts: Options{AOF: true}, Inject: postgresStopped},
	}
}

func usedMemory(t testing.TB, e *Env) int64 {
	t.Helper()
	info, err := e.RDB.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no used_memory in INFO memory")
	return 0
}

// mountTmpfs mounts a tmpfs of size as the tracker's state dir (root
// only), unmounted when the test ends.
func mountTmpfs(size string) func(t testing.TB, o *Options) {
	return func(t testing.TB, o *Options) {
		t.Helper()
		dir := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs (needs root): %v: %s", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v: %s", dir, err, out)
			}
		})
		o.DataDir = dir
	}
}
