package faults

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// bin is the xpromo binary the processes run, built once in TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "xpromo-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, err = Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	rateOnce sync.Once
	rate     float64
	capacity float64
)

// loadRate is half the measured capacity (a closed loop for 4 s on a
// fresh system), or FAULTS_RATE when set.
func loadRate(t *testing.T) float64 {
	rateOnce.Do(func() {
		if v := os.Getenv("FAULTS_RATE"); v != "" {
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || r <= 0 {
				t.Fatalf("FAULTS_RATE=%q: want a positive number", v)
			}
			rate = r
			return
		}
		// A subtest, so that its system is torn down before the faults run.
		t.Run("capacity", func(t *testing.T) {
			e := NewEnv(t, bin, Options{AOF: true})
			capacity = Capacity(e.Base, e.Token, 32, 4*time.Second)
			rate = capacity / 2
			t.Logf("capacity %.0f req/s (closed loop, 32 connections); load at %.0f req/s", capacity, rate)
		})
	})
	if rate == 0 {
		t.Fatal("no load rate (capacity measurement failed)")
	}
	return rate
}

// Every fault of the suite, one at a time, each on a fresh system under a
// steady load at half capacity: after recovery every id that got a success
// answer is in ClickHouse exactly once, no answer was anything but a
// success or a retryable 5xx (or no answer while the tracker was down),
// and the system drained.
func TestFaults(t *testing.T) {
	form, err := FormFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	r := loadRate(t)
	loadBefore := loadAvg()
	var rows []Row
	var failed []string
	matched := 0
	only := os.Getenv("FAULTS_ONLY") // substrings of fault names, comma-separated, for a quick rerun
	for _, f := range Faults() {
		if only != "" && !slices.ContainsFunc(strings.Split(strings.ToLower(only), ","), func(o string) bool {
			return strings.Contains(strings.ToLower(f.Name), strings.TrimSpace(o))
		}) {
			continue
		}
		matched++
		ok := t.Run(strings.NewReplacer(" ", "_", "(", "", ")", "", ":", "", ",", "", "+", "").Replace(f.Name), func(t *testing.T) {
			out := RunFault(t, bin, f, r, form)
			rows = append(rows, out.Row)
			t.Logf("sent %d at %.0f/s: answered %d, 5xx retry %d, no answer %d, bad %d, late %d; stored %d, missing %d, duplicated %d, not kept %d; p99 %v max %v drain %v",
				out.Sent, out.Rate, out.Answered, out.Retryable, out.NoAnswer, out.Bad, out.Late, out.Stored.Stored, out.Missing, out.Duplicated, out.NotKept, out.P99, out.Max, out.Drain)
			if !out.DrainedOK {
				t.Errorf("not drained within %v", form.DrainTimeout)
			}
			if out.Bad != 0 {
				t.Errorf("%d answers were neither a success nor a retryable 5xx: %v", out.Bad, BadSample(out.Answers, 5))
			}
			if out.Duplicated != 0 {
				t.Errorf("%d duplicated rows", out.Duplicated)
			}
			if err := CheckMax(f, out.Row); err != nil {
				t.Error(err)
			}
			if out.Answered == 0 {
				t.Error("no success answers at all")
			}
			if f.Lossy {
				// Disk full: clicks still redirect, their loss reported; a
				// pixel not kept answered 503. Nothing else may be missing.
				if out.NotKept == 0 {
					t.Error("the journal's disk never filled up: nothing reported not kept")
				}
				// Every missing success is one the tracker reported not kept
				// and did not answer 503; the rest of those reported went to
				// requests that got no answer (cut by the server's write
				// timeout while they waited on a frozen Redis).
				if want := out.NotKept - out.RetryNotKept; out.Missing > want || out.Missing < want-out.NoAnswer {
					t.Errorf("missing %d answered hits; the tracker reported %d not kept, %d of them answered 503, and %d requests got no answer: want %d to %d missing",
						out.Missing, out.NotKept, out.RetryNotKept, out.NoAnswer, max(0, want-out.NoAnswer), want)
				}
			} else {
				if out.Missing != 0 {
					t.Errorf("%d answered ids missing, e.g. %v", out.Missing, out.Stored.MissingSample)
				}
				if out.NotKept != 0 {
					t.Errorf("the tracker reported %d hits not kept", out.NotKept)
				}
			}
			t.Logf("late answers by kind %v, no answer by kind %v (click, view, pixel-conv, api-conv)", out.LateBy, out.NoAnswerBy)
			if !strings.HasPrefix(f.Name, "tracker") {
				// Nothing waits on a frozen Redis for long: captures spill
				// after the commit timeout, API conversions' repeat check
				// gives up after its read timeout with a 503.
				if out.NoAnswer != 0 {
					t.Errorf("requests got no answer although the tracker kept running: %v", out.NoAnswerBy)
				}
			}
			// Each order id is sent once: an answer "duplicate" would come
			// from a repeat check retried after Redis applied it.
			if out.MarkedDuplicate != 0 {
				t.Errorf("%d API conversions sent once were answered as repeats", out.MarkedDuplicate)
			}
		})
		if !ok {
			failed = append(failed, f.Name)
		}
	}
	if matched == 0 {
		t.Fatalf("FAULTS_ONLY=%q matches no fault", only)
	}
	header := fmt.Sprintf("Form: %s. Load: %.0f req/s open loop (70%% clicks, 15%% pixel views, 10%% pixel conversions, 5%% API conversions)", form.Name, r)
	if capacity > 0 {
		header += fmt.Sprintf(", half of the %.0f req/s measured with a closed loop", capacity)
	}
	header += fmt.Sprintf(". Latency goal %v. Run %s; machine load average (1 min, all users) %s at the start, %s at the end.\n\n",
		form.Goal, time.Now().UTC().Format("2006-01-02 15:04 MST"), loadBefore, loadAvg())
	verdict := "Result: every invariant held.\n\n"
	if len(failed) > 0 {
		verdict = "Result: FAILED: " + strings.Join(failed, "; ") + " (see the test log).\n\n"
	}
	table := header + verdict + Table(rows)
	fmt.Println(table)
	if doc := os.Getenv("FAULTS_DOC"); doc != "" && only == "" {
		if err := WriteSection(doc, "faults-"+form.Name, table); err != nil {
			t.Error(err)
		}
	}
}

// loadAvg is the machine's 1-minute load average: the suite shares the
// machine, and the latency columns mean little when it is far above the
// number of cores.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
