package main

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/xpromo/xpromo/ops/gen"
)

func TestGenCommand(t *testing.T) {
	db := newDB(t)
	args := []string{"--clickhouse-url", db.URL, "--postgres-url", pgOf(db).URL, "--hits", "20000", "--partnerships", "20", "--countries", "5",
		"--days", "10", "--start", "2026-03-25", "--seed", "5", "--batch", "6000"}
	out, stderr, err := cmdOutput(t, "gen", args...)
	if err != nil {
		t.Fatalf("gen: %v\n%s", err, stderr)
	}
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "hits 20000 (") || !strings.Contains(out, "partnerships 20,") || !strings.Contains(out, "rows/s") {
		t.Errorf("summary line: %q", out)
	}
	// docs/GEN.md's memory figures are this number: the process's VmHWM.
	if m := regexp.MustCompile(`; peak RSS ([0-9]+) MiB\n$`).FindStringSubmatch(out); m == nil || m[1] == "0" {
		t.Errorf("summary line lacks the peak RSS: %q", out)
	}
	if !strings.Contains(stderr, "gen: traffic: 20000 hits") || !strings.Contains(stderr, "gen: attributed") {
		t.Errorf("progress: %q", stderr)
	}
	var hits, convs, attrs uint64
	if err := db.Conn.QueryRow(t.Context(), `SELECT (SELECT count() FROM hits), (SELECT count() FROM conversions), (SELECT count() FROM attributions FINAL)`).Scan(&hits, &convs, &attrs); err != nil {
		t.Fatal(err)
	}
	if hits != 20000 || convs == 0 || attrs != convs {
		t.Errorf("stored %d hits, %d conversions, %d attributions", hits, convs, attrs)
	}

	// Another seed, JSON summary, no attribution.
	args = append(args[:len(args)-4], "--seed", "6", "--json", "--attribute=false", "--catalog-store")
	out, stderr, err = cmdOutput(t, "gen", args...)
	if err != nil {
		t.Fatalf("gen --seed 6: %v\n%s", err, stderr)
	}
	var sum gen.Summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("--json: %v: %s", err, out)
	}
	var peak struct {
		PeakRSSBytes int64 `json:"peak_rss_bytes"`
	}
	if err := json.Unmarshal([]byte(out), &peak); err != nil || peak.PeakRSSBytes < 1<<20 {
		t.Errorf("--json: peak_rss_bytes %d (%v): %s", peak.PeakRSSBytes, err, out)
	}
	if sum.Hits != 20000 || sum.Partnerships != 20 || sum.Attributions != 0 || sum.Conversions == 0 {
		t.Errorf("summary %+v", sum)
	}

	// The same seed again is refused.
	if _, _, err := cmdOutput(t, "gen", args...); !errors.Is(err, gen.ErrSeedUsed) {
		t.Errorf("same seed again: %v", err)
	}
}

func TestGenUsage(t *testing.T) {
	_, stderr, err := cmdOutput(t, "gen", "--help")
	if !errors.Is(err, errHelp) {
		t.Errorf("--help: %v", err)
	}
	if !strings.Contains(stderr, "Usage: xpromo gen") || !strings.Contains(stderr, "-conversion-rate") {
		t.Errorf("help text: %q", stderr)
	}
	for _, args := range [][]string{
		{"--countries", "61", "--partnerships", "100"},
		{"--partnerships", "3", "--countries", "5"},
		{"--start", "yesterday"},
		{"--conversion-rate", "2"},
		{"--hits", "-5"},
		{"extra"},
	} {
		if _, stderr, err := cmdOutput(t, "gen", args...); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		} else if stderr == "" {
			t.Errorf("%v: nothing said on stderr", args)
		}
	}
}
