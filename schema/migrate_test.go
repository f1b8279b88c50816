package schema_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

var fileRe = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

func TestAll(t *testing.T) {
	all, err := schema.All()
	if err != nil {
		t.Fatalf("All: %v", err)
	}
	if len(all) == 0 {
		t.Fatal("no migrations")
	}
	// Every .sql file in the package directory is embedded, in order.
	files, err := filepath.Glob("*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) != len(all) {
		t.Fatalf("%d .sql files, All returned %d migrations", len(files), len(all))
	}
	for i, m := range all {
		f := files[i]
		sm := fileRe.FindStringSubmatch(f)
		if sm == nil {
			t.Fatalf("file %q is not named NNNN_name.sql", f)
		}
		if got := fmt.Sprintf("%04d_%s.sql", m.Version, m.Name); got != f {
			t.Errorf("migration %d is %s, want file %s", i, got, f)
		}
		if i > 0 && m.Version <= all[i-1].Version {
			t.Errorf("migration %04d_%s is not after %04d_%s", m.Version, m.Name, all[i-1].Version, all[i-1].Name)
		}
		if m.Version != uint32(i+1) {
			t.Errorf("migration %s has version %d, want %d (no gaps)", f, m.Version, i+1)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m.SQL != string(b) {
			t.Errorf("migration %s: embedded SQL differs from the file", f)
		}
	}
}

func TestRender(t *testing.T) {
	all, err := schema.All()
	if err != nil {
		t.Fatalf("All: %v", err)
	}
	createRe := regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS ([a-z_]+) `)
	alterRe := regexp.MustCompile(`^ALTER TABLE ([a-z_]+) +ADD COLUMN [a-z_]+ `)
	modifyRe := regexp.MustCompile(`^ALTER TABLE ([a-z_]+)\s+MODIFY COLUMN [a-z_]+ `)
	viewRe := regexp.MustCompile(`^CREATE MATERIALIZED VIEW IF NOT EXISTS ([a-z_]+) `)
	for _, m := range all {
		t.Run(fmt.Sprintf("%04d_%s", m.Version, m.Name), func(t *testing.T) {
			plain, err := schema.Render(m.SQL, schema.Options{})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			c1, err := schema.Render(m.SQL, schema.Options{Cluster: "c1"})
			if err != nil {
				t.Fatalf("Render with cluster: %v", err)
			}
			for _, q := range []string{plain, c1} {
				if strings.Contains(q, "{{") || strings.Contains(q, "}}") {
					t.Errorf("template left in %q", q)
				}
				for _, line := range strings.Split(q, "\n") {
					if strings.HasPrefix(strings.TrimSpace(line), "--") {
						t.Errorf("comment line left: %q", line)
					}
				}
				if q != strings.TrimSpace(q) || strings.HasSuffix(q, ";") {
					t.Errorf("statement has surrounding space or a ';': %q", q)
				}
			}
			// Each step creates a table or a materialized view (IF NOT
			// EXISTS), adds one column (which the runner makes idempotent)
			// or changes columns' types (MODIFY COLUMN to the type a column
			// already has is a no-op, so a repeated step is harmless).
			prefix := "CREATE TABLE IF NOT EXISTS "
			sm := createRe.FindStringSubmatch(plain)
			if sm == nil {
				prefix = "CREATE MATERIALIZED VIEW IF NOT EXISTS "
				sm = viewRe.FindStringSubmatch(plain)
			}
			if sm == nil {
				prefix = "ALTER TABLE "
				if sm = modifyRe.FindStringSubmatch(plain); sm != nil {
					if strings.Contains(plain, "ADD COLUMN") {
						t.Errorf("a step adds or modifies columns, not both: %q", plain)
					}
				} else if sm = alterRe.FindStringSubmatch(plain); sm == nil {
					t.Fatalf("rendered statement is neither CREATE TABLE IF NOT EXISTS name nor ALTER TABLE name ADD|MODIFY COLUMN: %q", plain)
				} else if strings.Count(plain, "ADD COLUMN") != 1 {
					t.Errorf("one column per step: %q", plain)
				}
			}
			table := sm[1]
			if strings.Contains(plain, "ON CLUSTER") {
				t.Errorf("without a cluster: %q has ON CLUSTER", plain)
			}
			if !strings.HasPrefix(c1, prefix+table+" ON CLUSTER c1") {
				t.Errorf("with cluster c1: %q", c1)
			}
			if strings.Count(c1, "ON CLUSTER") != 1 {
				t.Errorf("with cluster c1: ON CLUSTER %d times", strings.Count(c1, "ON CLUSTER"))
			}
			// Apart from the clause the two renderings are the same.
			if strings.Replace(c1, " ON CLUSTER c1", " ", 1) != plain {
				t.Errorf("renderings differ beyond ON CLUSTER:\n%s\n---\n%s", plain, c1)
			}
		})
	}
}

func TestRenderRejects(t *testing.T) {
	tests := []struct {
		name    string
		sql     string
		cluster string
	}{
		{"cluster with a statement", "CREATE TABLE t {{.OnCluster}} (x UInt8) ENGINE = Memory", "c1; DROP DATABASE x"},
		{"cluster with a space", "CREATE TABLE t {{.OnCluster}} (x UInt8) ENGINE = Memory", "c 1"},
		{"cluster with a dash", "CREATE TABLE t {{.OnCluster}} (x UInt8) ENGINE = Memory", "c-1"},
		{"cluster starting with a digit", "CREATE TABLE t {{.OnCluster}} (x UInt8) ENGINE = Memory", "1c"},
		{"quoted cluster", "CREATE TABLE t {{.OnCluster}} (x UInt8) ENGINE = Memory", "`c1`"},
		{"cluster with a newline", "CREATE TABLE t {{.OnCluster}} (x UInt8) ENGINE = Memory", "c1\n"},
		{"cluster too long", "CREATE TABLE t {{.OnCluster}} (x UInt8) ENGINE = Memory", strings.Repeat("c", 64)},
		{"unknown key", "CREATE TABLE t {{.Database}} (x UInt8) ENGINE = Memory", ""},
		{"broken template", "CREATE TABLE t {{.OnCluster (x UInt8) ENGINE = Memory", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := schema.Render(tt.sql, schema.Options{Cluster: tt.cluster})
			if err == nil {
				t.Fatalf("Render = %q, want an error", q)
			}
			if q != "" {
				t.Fatalf("Render returned %q with its error", q)
			}
		})
	}
	if q, err := schema.Render("SELECT 1 {{.OnCluster}}", schema.Options{Cluster: "Cluster_2"}); err != nil || q != "SELECT 1 ON CLUSTER Cluster_2" {
		t.Fatalf("Render with cluster Cluster_2 = %q, %v", q, err)
	}
}

func allNames(t *testing.T) []string {
	t.Helper()
	all, err := schema.All()
	if err != nil {
		t.Fatalf("All: %v", err)
	}
	var names []string
	for _, m := range all {
		names = append(names, fmt.Sprintf("%04d_%s", m.Version, m.Name))
	}
	return names
}

func checkApplied(t *testing.T, ctx context.Context, conn driver.Conn) {
	t.Helper()
	all, err := schema.All()
	if err != nil {
		t.Fatal(err)
	}
	applied, err := schema.Applied(ctx, conn)
	if err != nil {
		t.Fatalf("Applied: %v", err)
	}
	if len(applied) != len(all) {
		t.Errorf("Applied = %v, want the %d versions", applied, len(all))
	}
	for _, m := range all {
		if !applied[m.Version] {
			t.Errorf("version %d (%s) not recorded as applied", m.Version, m.Name)
		}
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	db := testenv.ClickHouse(t) // already migrated
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	checkApplied(t, ctx, db.Conn)
	done, err := schema.Migrate(ctx, db.Conn, schema.Options{})
	if err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if len(done) != 0 {
		t.Fatalf("second Migrate applied %v, want nothing", done)
	}
	checkApplied(t, ctx, db.Conn)
}

func TestMigrateFreshDatabase(t *testing.T) {
	db := testenv.EmptyClickHouse(t)
	conn, name := db.Conn, db.Name
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	tables := func() []string {
		t.Helper()
		out, err := chdb.Collect(ctx, conn, "SELECT name FROM system.tables WHERE database = ? ORDER BY name", []any{name},
			func(r driver.Rows) (n string, err error) { return n, r.Scan(&n) })
		if err != nil {
			t.Fatalf("list tables: %v", err)
		}
		return out
	}
	if got := tables(); len(got) != 0 {
		t.Fatalf("fresh database has tables %v", got)
	}

	// A bad cluster name fails before anything is created.
	if _, err := schema.Migrate(ctx, conn, schema.Options{Cluster: "bad name"}); err == nil {
		t.Fatal("Migrate with cluster \"bad name\" succeeded")
	}
	if got := tables(); len(got) != 0 {
		t.Fatalf("a refused Migrate created tables %v", got)
	}

	done, err := schema.Migrate(ctx, conn, schema.Options{Log: testenv.Logger(t)})
	if err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	if want := allNames(t); !reflect.DeepEqual(done, want) {
		t.Fatalf("first Migrate applied %v, want %v", done, want)
	}
	wantTables := []string{"attributions", "audit_log", "conversions", "country_settings", "fx_rates", "hits", "hits_hourly", "hits_hourly_mv", "links", "partner_secrets", "partners", "partnership_terms", "partnerships", "rejected_hits", "statements", "tokens", schema.VersionTable}
	sort.Strings(wantTables)
	if got := tables(); !reflect.DeepEqual(got, wantTables) {
		t.Fatalf("tables after Migrate = %v, want %v", got, wantTables)
	}
	checkApplied(t, ctx, conn)

	done, err = schema.Migrate(ctx, conn, schema.Options{})
	if err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if len(done) != 0 {
		t.Fatalf("second Migrate applied %v, want nothing", done)
	}
	if got := tables(); !reflect.DeepEqual(got, wantTables) {
		t.Fatalf("tables after the second Migrate = %v, want %v", got, wantTables)
	}
	// One version row per migration: the second run recorded nothing.
	rows, err := conn.Query(ctx, "SELECT version, name, count() FROM "+schema.VersionTable+" GROUP BY version, name ORDER BY version")
	if err != nil {
		t.Fatalf("read %s: %v", schema.VersionTable, err)
	}
	defer rows.Close()
	var recorded []string
	for rows.Next() {
		var (
			v uint32
			n string
			c uint64
		)
		if err := rows.Scan(&v, &n, &c); err != nil {
			t.Fatal(err)
		}
		if c != 1 {
			t.Errorf("version %d recorded %d times", v, c)
		}
		recorded = append(recorded, fmt.Sprintf("%04d_%s", v, n))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := allNames(t); !reflect.DeepEqual(recorded, want) {
		t.Fatalf("%s holds %v, want %v", schema.VersionTable, recorded, want)
	}

	// A run interrupted after its statements but before their version rows
	// is repeated: CREATE ... IF NOT EXISTS, ADD COLUMN of a column that is
	// already there and MODIFY COLUMN to the type it has all count as
	// applied.
	if err := conn.Exec(ctx, "TRUNCATE TABLE "+schema.VersionTable); err != nil {
		t.Fatal(err)
	}
	done, err = schema.Migrate(ctx, conn, schema.Options{})
	if err != nil {
		t.Fatalf("Migrate after losing the version rows: %v", err)
	}
	if want := allNames(t); !reflect.DeepEqual(done, want) {
		t.Fatalf("Migrate after losing the version rows applied %v, want %v", done, want)
	}
	checkApplied(t, ctx, conn)
}

// decimalRe reads a Decimal type's precision and scale, also inside
// Nullable(...) or Array(...).
var decimalRe = regexp.MustCompile(`Decimal\((\d+), *(\d+)\)`)

// TestDecimalGroupBy: a GROUP BY over a Decimal(38, s) column segfaults
// ClickHouse 18.16 (the whole server goes down), so no migrated column
// may be wider than Decimal(18, s); and a GROUP BY over attributions'
// revenue_rep and fx_rate, the two columns that were Decimal(38, 12),
// answers on the real server with the values stored exactly. The types are
// checked first: were a Decimal128 left, the test stops before the query
// that would take the shared server down.
func TestDecimalGroupBy(t *testing.T) {
	db := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	rows, err := db.Conn.Query(ctx, `SELECT table, name, type FROM system.columns WHERE database = ? ORDER BY table, name`, db.Name)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for rows.Next() {
		var table, name, typ string
		if err := rows.Scan(&table, &name, &typ); err != nil {
			t.Fatal(err)
		}
		types[table+"."+name] = typ
		for _, m := range decimalRe.FindAllStringSubmatch(typ, -1) {
			if p, _ := strconv.Atoi(m[1]); p > 18 {
				t.Errorf("%s.%s is %s: a GROUP BY over a Decimal wider than 18 digits crashes ClickHouse 18.16", table, name, typ)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	for col, want := range map[string]string{
		"attributions.revenue":     "Decimal(18, 4)",
		"attributions.revenue_rep": "Decimal(18, 6)",
		"attributions.fx_rate":     "Decimal(18, 10)",
		"fx_rates.per_eur":         "Decimal(18, 8)",
		"conversions.amount":       "Decimal(18, 4)",
	} {
		if types[col] != want {
			t.Errorf("%s is %q, want %s", col, types[col], want)
		}
	}
	if t.Failed() {
		t.Fatal("not running the GROUP BY: it could crash the shared server")
	}

	// The extremes the types hold, a tiny cross rate, negatives and repeats.
	type row struct {
		conv, ps, cur  string
		revRep, fxRate string
	}
	in := []row{
		{"c1", "p1", "USD", "791.645455", "0.9090909091"},
		{"c2", "p1", "USD", "791.645455", "0.9090909091"},
		{"c3", "p1", "USD", "-9.090909", "0.9090909091"},
		{"c4", "p2", "IDR", "0.000059", "0.0000588235"},
		{"c5", "p2", "GBP", "999999999999.999999", "99999999.9999999999"},
		{"c6", "p2", "GBP", "-999999999999.999999", "99999999.9999999999"},
		{"c7", "p3", "JPY", "0", "0"},
	}
	batch, err := db.Conn.PrepareBatch(ctx, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "outcome", "partnership", "revenue", "currency", "revenue_rep", "rep_currency", "fx_rate", "fx_date", "computed_at", "version"))
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	for _, r := range in {
		if err := batch.Append(r.conv, ts, "purchase", "ours", "credited", r.ps, decimal.NewFromInt(1), r.cur,
			decimal.RequireFromString(r.revRep), "EUR", decimal.RequireFromString(r.fxRate), ts, ts, uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}

	// One key of each column alone (a fixed-size key), and with strings
	// (the serialized-key path where Decimal128 crashed), with totals.
	for _, tc := range []struct {
		name, sql string
		want      []string
	}{
		{"revenue_rep", `SELECT toString(revenue_rep), count() FROM attributions FINAL GROUP BY revenue_rep ORDER BY revenue_rep`,
			[]string{"-999999999999.999999 1", "-9.090909 1", "0.000000 1", "0.000059 1", "791.645455 2", "999999999999.999999 1"}},
		{"fx_rate", `SELECT toString(fx_rate), count() FROM attributions FINAL GROUP BY fx_rate ORDER BY fx_rate`,
			[]string{"0.0000000000 1", "0.0000588235 1", "0.9090909091 3", "99999999.9999999999 2"}},
		{"with strings", `SELECT concat(partnership, ' ', currency, ' ', toString(revenue_rep), ' ', toString(fx_rate)), count()
FROM attributions FINAL GROUP BY partnership, currency, revenue_rep, fx_rate WITH TOTALS ORDER BY partnership, currency, revenue_rep`,
			[]string{"p1 USD -9.090909 0.9090909091 1", "p1 USD 791.645455 0.9090909091 2",
				"p2 GBP -999999999999.999999 99999999.9999999999 1", "p2 GBP 999999999999.999999 99999999.9999999999 1",
				"p2 IDR 0.000059 0.0000588235 1", "p3 JPY 0.000000 0.0000000000 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := db.Conn.Query(ctx, tc.sql)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var k string
				var n uint64
				if err := rows.Scan(&k, &n); err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprint(k, " ", n))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
	if err := db.Conn.Ping(ctx); err != nil {
		t.Fatalf("the server does not answer after the GROUP BY: %v", err)
	}
}
