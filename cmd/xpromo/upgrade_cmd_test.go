package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// `xpromo migrate` as README's "Upgrading from a release that kept the
// catalog in ClickHouse" prints it: the first run copies the old catalog
// into an empty PostgreSQL and prints a line per table; the second copies
// nothing and prints the same checksums.
func TestMigrateCopiesAnOldCatalog(t *testing.T) {
	db, pg := testenv.ClickHouse(t), testenv.EmptyPostgres(t)
	at := time.Date(2025, 3, 4, 10, 11, 12, 0, time.UTC)
	stamp := uint64(at.UnixNano())
	insertRows(t, db, schema.Partners.Insert(), []any{"acme", "Acme", []string{"acme.example"}, "active", []string{"DE"}, at, stamp})
	insertRows(t, db, schema.Partnerships.Insert(), []any{"acme-de", "acme", "DE", "inbound", at, stamp})
	insertRows(t, db, schema.Links.Insert(),
		[]any{"spring", "acme-de", "acme", "inbound", "https://us.example/land", "spring", "active", time.Unix(0, 0), "admin", at, stamp})
	t.Setenv("XPROMO_CLICKHOUSE_URL", db.URL)
	t.Setenv("XPROMO_POSTGRES_URL", pg.URL)

	lines := func(copied string) map[string]string {
		t.Helper()
		out, stderr, err := cmdOutput(t, "migrate")
		if err != nil {
			t.Fatalf("migrate: %v\n%s", err, stderr)
		}
		if !strings.Contains(out, "catalog kept in ClickHouse by an earlier release, copied into PostgreSQL and verified:") {
			t.Fatalf("migrate printed no catalog copy:\n%s", out)
		}
		got := map[string]string{}
		for _, table := range []string{"partners", "partnerships", "links"} {
			for l := range strings.Lines(out) {
				f := strings.Fields(l)
				if len(f) > 0 && f[0] == table {
					got[table] = l
				}
			}
			if want := "1 rows, " + copied + " copied now, 1 in PostgreSQL, checksum "; !strings.Contains(got[table], want) {
				t.Errorf("%s: %q, want %q", table, got[table], want)
			}
		}
		return got
	}
	first, second := lines("1"), lines("0")
	for table, l := range first {
		sum := l[strings.LastIndex(l, " ")+1:]
		if !strings.HasSuffix(second[table], sum) {
			t.Errorf("%s: checksum %q first, then %q", table, strings.TrimSpace(sum), second[table])
		}
	}
	var url string
	if err := pg.Pool.QueryRow(context.Background(), `SELECT url FROM links WHERE code = 'spring'`).Scan(&url); err != nil || url != "https://us.example/land" {
		t.Errorf("link spring in PostgreSQL: %q, %v", url, err)
	}
}
