package attribution

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestJobRecomputes runs the job against ClickHouse: a conversion without
// a qualifying click is unattributed; once a late click (recorded earlier,
// ingested later) and a terms change arrive, the next run credits it, and
// the table keeps one row per conversion.
func TestJobRecomputes(t *testing.T) {
	db := testenv.ClickHouse(t)
	ctx := context.Background()
	cat := catalog.NewStore(testenv.Postgres(t).Pool)
	if _, err := cat.AddPartner(ctx, catalog.Partner{ID: "acme", Name: "Acme"}, "t"); err != nil {
		t.Fatal(err)
	}
	// One partnership per partner and country: ps-b is acme's in AT.
	for id, cc := range map[string]string{"ps-a": "DE", "ps-b": "AT"} {
		if _, err := cat.AddPartnership(ctx, catalog.Partnership{ID: id, Partner: "acme", Country: cc, Direction: vocab.Inbound}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	day := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	insertClick := func(id, ps, visitor string, at time.Time) {
		t.Helper()
		testenv.Insert(t, ctx, db.Conn, schema.Hits.InsertOnly("id", "ts", "kind", "link", "partner", "partnership", "direction", "country", "visitor", "is_bot", "ingested_at"),
			[]any{id, at, "click", "l", "acme", ps, "inbound", "DE", visitor, uint8(0), at})
	}
	signupAt := day.Add(12 * time.Hour)
	var convs [][]any
	for _, c := range []struct {
		id, typ, order string
		at             time.Time
		amount         string
	}{
		{"c1", "signup", "", signupAt, "0"},
		{"c2", "purchase", "o1", signupAt.Add(time.Hour), "30"},
	} {
		convs = append(convs, []any{c.id, c.at, c.at, c.typ, "ours", "u1", c.order, "v1", decimal.RequireFromString(c.amount), "EUR", "DE", c.at})
	}
	testenv.Insert(t, ctx, db.Conn, schema.Conversions.InsertOnly("id", "ts", "received_at", "type", "source", "user_id", "order_id", "visitor", "amount", "currency", "country", "ingested_at"), convs...)
	job := NewJob(db.Conn, cat, fx.NewStore(cat.DB()), testenv.Logger(t))
	outcome := func() map[string]string {
		t.Helper()
		rows, err := db.Conn.Query(ctx, "SELECT conversion, concat(toString(outcome), '/', partnership, '/', toString(revenue_rep)) FROM attributions FINAL")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			out[k] = v
		}
		return out
	}
	run := func() Summary {
		t.Helper()
		sum, err := job.Run(ctx, day, day.AddDate(0, 0, 1))
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	insertClick("k-other", "ps-b", "someone-else", signupAt.Add(-time.Hour))
	if sum := run(); sum.Conversions != 2 || sum.Outcomes[OutcomeUnattributed] != 2 {
		t.Fatalf("first run: %+v", sum)
	}
	// A click of ps-a by the same visitor, two days before, arrives late.
	insertClick("k-late", "ps-a", "v1", signupAt.AddDate(0, 0, -2))
	if sum := run(); sum.Clicks != 1 || sum.Outcomes[OutcomeNewUser] != 1 || sum.Outcomes[OutcomeCredited] != 1 {
		t.Fatalf("after the late click: %+v", sum)
	}
	got := outcome()
	if got["c1"] != "new_user/ps-a/0.000000" || got["c2"] != "credited/ps-a/30.000000" {
		t.Fatalf("after the late click: %v", got)
	}
	// Terms of ps-a change to a 1-day attribution window from before the
	// click: the signup two days later is no longer credited.
	if _, err := cat.SetTerms(ctx, "ps-a", catalog.Terms{EffectiveFrom: day.AddDate(0, 0, -5), StartDate: day.AddDate(0, 0, -5),
		Currency: "EUR", AttributionWindowDays: 1}, "t"); err != nil {
		t.Fatal(err)
	}
	run()
	if got := outcome(); got["c1"] != "unattributed//0.000000" || len(got) != 2 {
		t.Fatalf("after the terms change: %v", got)
	}
	if n := countRows(t, db, "SELECT count() FROM attributions FINAL"); n != 2 {
		t.Fatalf("%d rows after three runs, want 2", n)
	}
}

func countRows(t *testing.T, db *testenv.DB, q string) uint64 {
	t.Helper()
	var n uint64
	if err := db.Conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStoredFX: a conversion is stored rounded half-even to the columns'
// scales (revenue_rep 6 decimals, fx_rate 10), and one that does not fit
// Decimal(18, 6) or Decimal(18, 10) is refused (left unconverted) rather
// than truncated by the driver or failing the whole batch.
func TestStoredFX(t *testing.T) {
	for _, tc := range []struct {
		amount, rate      string
		wantAmt, wantRate string
		ok                bool
	}{
		{"791.6454545454545", "0.909090909091", "791.645455", "0.9090909091", true},
		{"0.0000005", "0.000058823529", "0", "0.0000588235", true}, // half-even: 0.000000
		{"0.0000015", "1", "0.000002", "1", true},
		{"-9.0909095", "0.909090909091", "-9.09091", "0.9090909091", true},
		{"999999999999.9999994", "2", "999999999999.999999", "2", true},
		{"999999999999.9999995", "2", "", "", false}, // rounds to 10^12
		{"-1000000000000", "2", "", "", false},
		{"10", "99999999.99999999995", "", "", false},
		{"10", "0.00000000004", "", "", false}, // a rate of 0 marks no rate
	} {
		amt, rate, ok := storedFX(fx.Converted{Amount: decimal.RequireFromString(tc.amount), Rate: decimal.RequireFromString(tc.rate)})
		if ok != tc.ok {
			t.Errorf("storedFX(%s, %s) ok = %v, want %v", tc.amount, tc.rate, ok, tc.ok)
			continue
		}
		if ok && (!amt.Equal(decimal.RequireFromString(tc.wantAmt)) || !rate.Equal(decimal.RequireFromString(tc.wantRate))) {
			t.Errorf("storedFX(%s, %s) = %s, %s, want %s, %s", tc.amount, tc.rate, amt, rate, tc.wantAmt, tc.wantRate)
		}
		if !ok && (!amt.IsZero() || !rate.IsZero()) {
			t.Errorf("storedFX(%s, %s) refused but returned %s, %s", tc.amount, tc.rate, amt, rate)
		}
	}
}
