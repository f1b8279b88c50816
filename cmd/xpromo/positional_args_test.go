package main

import (
	"os"
	"strings"
	"testing"
)

// TestPositionalArgsAnyOrder runs the documented command lines that take
// positional arguments (only `fx load FILE.csv` does: README, docs/
// CONVERSIONS.md, docs/GEN.md) as printed, and with flags before, after and
// around the file, and after "--". It failed with "want exactly one
// FILE.csv" for the documented `fx load FILE.csv` while Go's flag package
// stopped at the first non-flag.
func TestPositionalArgsAnyOrder(t *testing.T) {
	db := newDB(t)
	t.Setenv("XPROMO_POSTGRES_URL", pgOf(db).URL) // the rates are kept there
	// The docs' own file names, in the working directory, as a user has them.
	t.Chdir(t.TempDir())
	const csv = "Date, USD, GBP, \n14 March 2025, 1.0890, 0.8410, \n13 March 2025, 1.0860, 0.8390, \n"
	for _, name := range []string{"FILE.csv", "eurofxref-hist.csv", "-dash.csv"} {
		if err := os.WriteFile(name, []byte(csv), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A URL nobody listens on: where a case passes --clickhouse-url, only
	// the flag can make it succeed.
	const deadURL = "clickhouse://127.0.0.1:1/nowhere"
	url := db.URL
	for _, tt := range []struct {
		name    string
		env     string // XPROMO_CLICKHOUSE_URL
		args    []string
		code    int
		out     string
		errText string
	}{
		{"README and CONVERSIONS.md", url, []string{"fx", "load", "FILE.csv"}, 0, "loaded 4 rates from 2025-03-13 to 2025-03-14", ""},
		{"GEN.md", url, []string{"fx", "load", "eurofxref-hist.csv"}, 0, "loaded 4 rates", ""},
		{"flag before the file", deadURL, []string{"fx", "load", "--clickhouse-url", url, "FILE.csv"}, 0, "loaded 4 rates", ""},
		{"flag=value before the file", deadURL, []string{"fx", "load", "--clickhouse-url=" + url, "FILE.csv"}, 0, "loaded 4 rates", ""},
		{"flag after the file", deadURL, []string{"fx", "load", "FILE.csv", "--clickhouse-url", url}, 0, "loaded 4 rates", ""},
		{"flags around the file", deadURL, []string{"fx", "load", "--log-level", "warn", "FILE.csv", "--clickhouse-url", url, "--log-format", "json"}, 0, "loaded 4 rates", ""},
		{"-- ends the flags", url, []string{"fx", "load", "--log-level", "warn", "--", "-dash.csv"}, 0, "loaded 4 rates", ""},
		{"help after the file", url, []string{"fx", "load", "FILE.csv", "--help"}, 0, "", "Usage: xpromo fx load"},
		{"no file", url, []string{"fx", "load", "--log-level", "warn"}, 2, "", "want exactly one FILE.csv, got 0"},
		{"two files", url, []string{"fx", "load", "FILE.csv", "--log-level", "warn", "eurofxref-hist.csv"}, 2, "", "want exactly one FILE.csv, got 2"},
		{"unknown flag after the file", url, []string{"fx", "load", "FILE.csv", "--no-such-flag"}, 2, "", "flag provided but not defined: -no-such-flag"},
		{"a flag after -- is a file name", url, []string{"fx", "load", "--", "--log-level"}, 1, "", "--log-level"},
		{"the flag's URL is used", url, []string{"fx", "load", "FILE.csv", "--clickhouse-url", deadURL}, 1, "", "127.0.0.1:1"},
		// Commands without positional arguments still refuse one, wherever it is.
		{"stray argument after flags", url, []string{"partner", "show", "--id", "acme", "extra"}, 2, "", `unexpected argument "extra"`},
		{"stray argument before flags", url, []string{"partner", "show", "extra", "--id", "acme"}, 2, "", `unexpected argument "extra"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("XPROMO_CLICKHOUSE_URL", tt.env)
			code, out, errOut := cliRun(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.errText) {
				t.Fatalf("xpromo %s: exit %d, want %d\nstdout: %s (want %q)\nstderr: %s (want %q)",
					strings.Join(tt.args, " "), code, tt.code, out, tt.out, errOut, tt.errText)
			}
		})
	}
	if n := pgCount(t, db, `SELECT count(*) FROM fx_rates`); n == 0 {
		t.Errorf("no rates stored")
	}
}
