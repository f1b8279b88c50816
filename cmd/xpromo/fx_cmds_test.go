package main

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestFXLoadZip runs `xpromo fx load FILE` as the docs print it with the
// ECB's zip (eurofxref-hist.zip holding eurofxref-hist.csv, built here from
// the fx package's fixture): it loads the rates. A gzip of the same CSV is
// refused with what the file is and what to load, not with its bytes.
func TestFXLoadZip(t *testing.T) {
	db := newDB(t)
	t.Setenv("XPROMO_CLICKHOUSE_URL", db.URL)
	t.Setenv("XPROMO_POSTGRES_URL", pgOf(db).URL) // the rates are kept there
	csvBytes, err := os.ReadFile(filepath.Join("..", "..", "domain", "fx", "testdata", "eurofxref-hist.csv"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, err := zw.Create("eurofxref-hist.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(csvBytes); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	_, _ = gw.Write(csvBytes)
	_ = gw.Close()
	for name, body := range map[string][]byte{"eurofxref-hist.zip": zb.Bytes(), "eurofxref-hist.csv.gz": gz.Bytes()} {
		if err := os.WriteFile(name, body, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	code, out, errOut := cliRun(t, nil, "fx", "load", "eurofxref-hist.zip")
	if code != 0 || !strings.Contains(out, "loaded 60 rates from 2026-11-12 to 2026-11-25") {
		t.Fatalf("xpromo fx load eurofxref-hist.zip: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if n := pgCount(t, db, `SELECT count(*) FROM fx_rates`); n != 60 {
		t.Errorf("%d rates stored, want 60", n)
	}

	code, out, errOut = cliRun(t, nil, "fx", "load", "eurofxref-hist.csv.gz")
	if code != 1 || out != "" ||
		!strings.Contains(errOut, "eurofxref-hist.csv.gz: not an ECB euro reference rate CSV: this is a gzip-compressed file (uncompress it first); load the CSV as the ECB publishes it: eurofxref-hist.zip") {
		t.Fatalf("xpromo fx load eurofxref-hist.csv.gz: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if strings.ContainsRune(errOut, 0x1f) || strings.ContainsRune(errOut, 0x8b) || strings.Contains(errOut, `\x`) {
		t.Errorf("stderr holds the file's bytes:\n%q", errOut)
	}
}

// fxLoad runs `xpromo fx load` on a file of csv, ECB rates as the ECB
// writes them, and checks that it printed want.
func fxLoad(t *testing.T, db *testenv.DB, csv, want string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "eurofxref.csv")
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cliRun(t, db, "fx", "load", file); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("fx load: %d %s %s", code, out, errOut)
	}
}
