package faults

import (
	"strings"
	"testing"
	"time"
)

// The timeline names only the windows where more than 0.5% of the success
// answers were late, with what the monitor saw in them; the rest of the
// run stays out of the log.
func TestTimeline(t *testing.T) {
	start := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	var answers []Answer
	add := func(sec, n, late int, slow time.Duration) {
		for i := range n {
			a := Answer{Class: OK, At: start.Add(time.Duration(sec)*time.Second + time.Duration(i)*time.Millisecond), Latency: time.Millisecond}
			if i < late {
				a.Latency = slow
			}
			answers = append(answers, a)
		}
	}
	add(0, 1000, 0, 0)                     // window 0: none late
	add(5, 1000, 5, 300*time.Millisecond)  // window 1: 0.5%, not above
	add(10, 1000, 6, 300*time.Millisecond) // window 2: 0.6%
	add(15, 1000, 500, 2*time.Second)      // window 3: half
	answers = append(answers, Answer{Class: Retryable, At: start.Add(16 * time.Second), Latency: time.Minute})
	samples := []sample{
		{at: start.Add(11 * time.Second), entries: 10, journal: 0, redisMem: 64 << 20, answered: 5000},
		{at: start.Add(12 * time.Second), entries: 30, journal: 0, redisMem: 80 << 20, redisFork: true, answered: 6000, slow: 6},
		{at: start.Add(16 * time.Second), entries: 50, journal: 3 << 20, spilling: 1, redisMem: 90 << 20, answered: 7000, slow: 306},
	}
	stalls := []stall{
		{at: start.Add(3 * time.Second), event: "fork", ms: 40},              // a window with no late answers
		{at: start.Add(14 * time.Second), event: "aof-fsync-always", ms: 12}, // in the +10s window
		{at: start.Add(16 * time.Second), event: "aof-fsync-always", ms: 900},
		{at: start.Add(17 * time.Second), event: "command", ms: 20},
	}
	lines := timeline(answers, samples, stalls, start, 5*time.Second, 100*time.Millisecond, 40)
	want := []string{
		"+  10s:   1000 ok,   0.6% late, slowest 300ms; stream 30 entries, Redis 80 MiB (AOF rewrite or save running), journal 0.0 MiB; Redis stalls: aof-fsync-always 12 ms",
		"+  15s:   1000 ok,  50.0% late, slowest 2s; tracker: 300 of 1000 answers over 100ms; stream 50 entries, Redis 90 MiB, journal 3.0 MiB, spilling; Redis stalls: aof-fsync-always 900 ms, command 20 ms",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("timeline:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// Capped: the worst windows stay, in time order.
	if got := timeline(answers, samples, stalls, start, 5*time.Second, 100*time.Millisecond, 1); len(got) != 1 || !strings.HasPrefix(got[0], "+  15s") {
		t.Errorf("capped to 1 line: %q, want the +15s window", got)
	}
}
