package schema_test

import (
	"context"
	"testing"
	"time"

	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestTables checks the registry against the migrated schema: each
// registered table exists with each registered column, and every column
// without a DEFAULT is registered (a new column must be filled by the
// writers, or be given a DEFAULT on purpose).
func TestTables(t *testing.T) {
	db := testenv.ClickHouse(t) // a fresh database, migrated
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	type column struct{ defaultKind string }
	rows, err := db.Conn.Query(ctx, `SELECT table, name, default_kind FROM system.columns WHERE database = ?`, db.Name)
	if err != nil {
		t.Fatal(err)
	}
	real := map[string]map[string]column{}
	for rows.Next() {
		var table, name, kind string
		if err := rows.Scan(&table, &name, &kind); err != nil {
			t.Fatal(err)
		}
		if real[table] == nil {
			real[table] = map[string]column{}
		}
		real[table][name] = column{kind}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()

	seen := map[string]bool{}
	for _, tb := range schema.Tables() {
		if seen[tb.Name] {
			t.Errorf("table %s registered twice", tb.Name)
		}
		seen[tb.Name] = true
		cols, ok := real[tb.Name]
		if !ok {
			t.Errorf("registered table %s does not exist after migrate", tb.Name)
			continue
		}
		registered := map[string]bool{}
		for _, c := range tb.Columns() {
			if registered[c] {
				t.Errorf("%s.%s registered twice", tb.Name, c)
			}
			registered[c] = true
			if _, ok := cols[c]; !ok {
				t.Errorf("registered column %s.%s does not exist after migrate", tb.Name, c)
			}
		}
		for name, c := range cols {
			if c.defaultKind == "" && !registered[name] {
				t.Errorf("column %s.%s has no DEFAULT and is not in schema/tables.go: its writers would leave it empty", tb.Name, name)
			}
		}
	}
}

func TestTableInsert(t *testing.T) {
	if got, want := schema.FXRates.Insert(), "INSERT INTO fx_rates (date, currency, per_eur, loaded_at)"; got != want {
		t.Errorf("Insert() = %q, want %q", got, want)
	}
	if got, want := schema.FXRates.InsertOnly("currency", "date"), "INSERT INTO fx_rates (currency, date)"; got != want {
		t.Errorf("InsertOnly() = %q, want %q", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("InsertOnly of an unregistered column did not panic")
		}
	}()
	_ = schema.FXRates.InsertOnly("date", "nope")
}
