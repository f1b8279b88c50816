package faults

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// redisState reads Redis's used memory and whether a child process (AOF
// rewrite or RDB save) is running: the usual suspects when answers slow
// down while Redis grows.
func (e *Env) redisState(ctx context.Context) (mem int64, fork bool) {
	info, err := e.redisInfo(ctx, "memory", "persistence")
	if err != nil {
		return -1, false
	}
	mem, err = strconv.ParseInt(info["used_memory"], 10, 64)
	if err != nil {
		mem = -1
	}
	return mem, info["aof_rewrite_in_progress"] == "1" || info["rdb_bgsave_in_progress"] == "1"
}

// stall is one sample of Redis's latency monitor: an event (a command,
// an AOF fsync, a fork) that took ms milliseconds at second at.
type stall struct {
	at    time.Time
	event string
	ms    int64
}

// redisStalls reads Redis's latency monitor (LATENCY LATEST, then each
// event's LATENCY HISTORY, its last 160 samples): what Redis itself spent
// the time on. Redis records samples over --latency-monitor-threshold.
func (e *Env) redisStalls(ctx context.Context) []stall {
	res, err := e.RDB.Do(ctx, "LATENCY", "LATEST").Slice()
	if err != nil {
		return nil
	}
	var out []stall
	for _, ev := range res {
		f, ok := ev.([]any)
		if !ok || len(f) < 1 {
			continue
		}
		name, _ := f[0].(string)
		hist, err := e.RDB.Do(ctx, "LATENCY", "HISTORY", name).Slice()
		if err != nil {
			continue
		}
		for _, h := range hist {
			if p, ok := h.([]any); ok && len(p) == 2 {
				at, _ := p[0].(int64)
				ms, _ := p[1].(int64)
				out = append(out, stall{at: time.Unix(at, 0), event: name, ms: ms})
			}
		}
	}
	return out
}

// worstStalls is the slowest sample per event in [from, to), "" if none,
// e.g. " Redis: aof-fsync-always 1173 ms, fork 33 ms".
func worstStalls(stalls []stall, from, to time.Time) string {
	worst := map[string]int64{}
	var names []string
	for _, st := range stalls {
		// Samples are stamped to the second: count one in a window when
		// its second overlaps it.
		if st.at.Add(time.Second).After(from) && st.at.Before(to) {
			if _, ok := worst[st.event]; !ok {
				names = append(names, st.event)
			}
			worst[st.event] = max(worst[st.event], st.ms)
		}
	}
	if len(names) == 0 {
		return ""
	}
	slices.SortFunc(names, func(a, b string) int { return int(worst[b] - worst[a]) })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d ms", n, worst[n])
	}
	return "; Redis stalls: " + strings.Join(parts, ", ")
}

// timeline describes, per window of the run, the windows where more than
// 0.5% of the success answers were later than goal: how many, the slowest,
// and what the tracker, the stream and Redis were doing. It is what the
// table cannot say: why a fault's p99 is what it is.
func timeline(answers []Answer, samples []sample, stalls []stall, start time.Time, window, goal time.Duration, maxLines int) []string {
	type bucket struct {
		ok, late int
		worst    time.Duration
	}
	var buckets []bucket
	for _, a := range answers {
		if a.Class != OK {
			continue
		}
		i := int(a.At.Sub(start) / window)
		if i < 0 {
			continue
		}
		for len(buckets) <= i {
			buckets = append(buckets, bucket{})
		}
		b := &buckets[i]
		b.ok++
		if a.Latency > goal {
			b.late++
		}
		b.worst = max(b.worst, a.Latency)
	}
	var lines []string
	for i, b := range buckets {
		if b.ok == 0 || b.late*200 <= b.ok {
			continue
		}
		from, to := start.Add(time.Duration(i)*window), start.Add(time.Duration(i+1)*window)
		var entries, mem int64 = -1, -1
		journal, spilling, fork := -1.0, false, false
		var before, last *sample
		for i := range samples {
			s := samples[i]
			if s.at.Before(from) {
				before = &samples[i]
				continue
			}
			if !s.at.Before(to) {
				continue
			}
			last = &samples[i]
			entries, mem, journal = max(entries, s.entries), max(mem, s.redisMem), max(journal, s.journal)
			spilling = spilling || s.spilling > 0
			fork = fork || s.redisFork
		}
		// The tracker's own view over the same stretch (between the last
		// sample before it and the last in it): late there, or only here?
		own := ""
		if before != nil && last != nil && before.answered >= 0 && last.answered >= before.answered && last.slow >= before.slow && before.slow >= 0 {
			own = fmt.Sprintf("; tracker: %.0f of %.0f answers over %v", last.slow-before.slow, last.answered-before.answered, goal)
		}
		lines = append(lines, fmt.Sprintf("+%4.0fs: %6d ok, %5.1f%% late, slowest %v%s; stream %d entries, Redis %d MiB%s, journal %.1f MiB%s%s",
			from.Sub(start).Seconds(), b.ok, 100*float64(b.late)/float64(b.ok), b.worst.Round(time.Millisecond), own,
			entries, mem>>20, map[bool]string{true: " (AOF rewrite or save running)"}[fork], journal/(1<<20),
			map[bool]string{true: ", spilling"}[spilling], worstStalls(stalls, from, to)))
	}
	if len(lines) > maxLines {
		// Keep the worst windows, in time order.
		slices.SortStableFunc(lines, func(a, b string) int { return strings.Compare(lateOf(b), lateOf(a)) })
		lines = lines[:maxLines]
		slices.Sort(lines)
	}
	return lines
}

// lateOf is a timeline line's late share, for sorting ("  5.1%").
func lateOf(line string) string {
	_, rest, _ := strings.Cut(line, " ok, ")
	pct, _, _ := strings.Cut(rest, "%")
	return fmt.Sprintf("%6s", pct)
}
