package faults

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// The bound on the slowest capture, on synthetic answers: one capture
// answered during the fault over MaxAnswer fails its row, unless the fault
// may make answers wait (only the ClickHouse outage and disk full).
func TestCheckMax(t *testing.T) {
	from := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	to := from.Add(10 * time.Second)
	// 1000 fast answers spread over the load, before, during and after
	// the fault.
	fast := func() []Answer {
		var as []Answer
		for i := range 1000 {
			as = append(as, Answer{Kind: Kind(i % int(kinds)), Class: OK, ID: fmt.Sprint(i),
				At: from.Add(-3*time.Second + time.Duration(i)*16*time.Millisecond), Latency: 20 * time.Millisecond})
		}
		return as
	}
	with := func(extra ...Answer) []Answer { return append(fast(), extra...) }
	over := MaxAnswer + time.Millisecond
	faults := map[string]Fault{}
	for _, f := range Faults() {
		faults[f.Name] = f
	}
	for _, tc := range []struct {
		name    string
		fault   string
		answers []Answer
		fail    bool
	}{
		{"all fast", "Redis unreachable", fast(), false},
		{"one answer at the bound", "Redis unreachable", with(Answer{Class: OK, ID: "b", At: from.Add(time.Second), Latency: MaxAnswer}), false},
		{"one click over the bound", "Redis unreachable", with(Answer{Kind: Click, Class: OK, ID: "s", At: from.Add(time.Second), Latency: over}), true},
		{"one pixel conversion over the bound", "Redis maxmemory reached", with(Answer{Kind: PixelConv, Class: OK, ID: "s", At: from.Add(time.Second), Latency: over}), true},
		{"an API conversion is not a capture", "Redis unreachable", with(Answer{Kind: APIConv, Class: OK, ID: "s", At: from.Add(time.Second), Latency: over}), false},
		{"over the bound in the second after the repair", "tracker SIGKILL + restart", with(Answer{Class: OK, ID: "s", At: to.Add(500 * time.Millisecond), Latency: over}), true},
		{"over the bound before the fault (not during it)", "Redis unreachable", with(Answer{Class: OK, ID: "s", At: from.Add(-time.Second), Latency: over}), false},
		{"a slow retryable 503 promises nothing", "Redis unreachable", with(Answer{Class: Retryable, At: from.Add(time.Second), Latency: 3 * MaxAnswer}), false},
		{"ClickHouse outage exempt", "ClickHouse stopped", with(Answer{Class: OK, ID: "s", At: from.Add(time.Second), Latency: 10 * MaxAnswer}), false},
		{"disk full exempt", "spill journal disk full", with(Answer{Class: OK, ID: "s", At: from.Add(time.Second), Latency: 10 * MaxAnswer}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := faults[tc.fault]
			if !ok {
				t.Fatalf("no fault %q in the suite", tc.fault)
			}
			// As RunFault summarizes: during the fault = until a second after the repair.
			r := Summarize(f.Name, tc.answers, from, to.Add(time.Second), 100*time.Millisecond, Stored{})
			err := CheckMax(f, r)
			if (err != nil) != tc.fail {
				t.Fatalf("row max %v: CheckMax = %v, want failure %v", r.Max, err, tc.fail)
			}
			if err != nil && !strings.Contains(err.Error(), f.Name) {
				t.Errorf("error %q does not name the fault", err)
			}
		})
	}
	// Exactly the two faults the docs name are exempt.
	var exempt []string
	for _, f := range Faults() {
		if f.MayWait {
			exempt = append(exempt, f.Name)
		}
	}
	if want := []string{"ClickHouse stopped", "spill journal disk full"}; !slices.Equal(exempt, want) {
		t.Errorf("faults allowed answers over %v: %q, want %q", MaxAnswer, exempt, want)
	}
}
