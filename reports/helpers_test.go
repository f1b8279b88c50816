package reports_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// The helpers the report tests share.

// testCtx is a context for one test's queries, cancelled when it ends.
func testCtx(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// readCSV reads testdata/name, checks its header row (unless header is
// nil) and returns the other rows.
func readCSV(t *testing.T, name string, header []string) [][]string {
	t.Helper()
	recs := testenv.ReadCSV(t, filepath.Join("testdata", name))
	if header != nil && (len(recs) == 0 || !reflect.DeepEqual(recs[0], header)) {
		t.Fatalf("%s: header %v, want %v", name, recs[:min(1, len(recs))], header)
	}
	return recs[1:]
}

// versioned is an attributions row: a conversion's, at a version.
type versioned interface {
	convVersion() (conv string, version uint64)
}

// latestVersions keeps each conversion's row with the highest version, as
// FINAL does (the scenarios never write one version twice), sorted by
// conversion.
func latestVersions[R versioned](rows []R) []R {
	best := map[string]R{}
	for _, r := range rows {
		conv, v := r.convVersion()
		if b, ok := best[conv]; !ok {
			best[conv] = r
		} else if _, bv := b.convVersion(); v > bv {
			best[conv] = r
		}
	}
	out := make([]R, 0, len(best))
	for _, r := range best {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		ci, _ := out[i].convVersion()
		cj, _ := out[j].convVersion()
		return ci < cj
	})
	return out
}

// checkCSVFile compares the table, written as CSV, with testdata/file.
func checkCSVFile(t *testing.T, tab *reports.Table, file string) {
	t.Helper()
	var buf bytes.Buffer
	if err := tab.Write(&buf, reports.FormatCSV); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(want) {
		t.Errorf("CSV:\n%s\nwant (%s):\n%s", buf.String(), file, want)
	}
}

// runReport runs a report, failing the test on an error or when the
// table's columns are not cols.
func runReport(t *testing.T, ctx context.Context, env *reports.Env, run func(context.Context, *reports.Env, reports.Params) (*reports.Table, error),
	p reports.Params, cols []reports.Column) *reports.Table {
	t.Helper()
	tab, err := run(ctx, env, p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tab.Columns, cols) {
		t.Fatalf("columns %v", tab.Columns)
	}
	return tab
}
