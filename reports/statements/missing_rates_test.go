package statements

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/attribution"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestMissingRates: a purchase in USD on a day without an ECB rate,
// attributed by the real job, is not silently 0 in EUR. The partnerships
// report names it in a note, the quality report in missing_fx_rates, and
// the statement is neither built nor closed, its error listing the
// currency-day; once the rate is loaded and attribution runs again, all
// three are clean and the statement closes with the revenue converted.
func TestMissingRates(t *testing.T) {
	ctx := testCtx(t)
	db := testenv.ClickHouse(t)
	pg := testenv.Postgres(t).Pool
	cat := catalog.NewStore(pg)
	if _, err := cat.AddPartner(ctx, catalog.Partner{ID: "acme", Name: "Acme"}, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.AddPartnership(ctx, catalog.Partnership{ID: "acme-de", Partner: "acme", Country: "DE", Direction: vocab.Inbound}, "t"); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := cat.SetTerms(ctx, "acme-de", catalog.Terms{EffectiveFrom: start, StartDate: start, Currency: "EUR",
		InboundCPA: decimal.NewFromInt(2), InboundRevSharePct: decimal.NewFromInt(10)}, "t"); err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.DateTime, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	click := at("2026-10-02 09:00:00")
	testenv.Insert(t, ctx, db.Conn, schema.Hits.InsertOnly("id", "ts", "kind", "link", "partner", "partnership", "direction", "country", "visitor", "is_bot", "ingested_at"),
		[]any{"k1", click, "click", "l", "acme", "acme-de", "inbound", "DE", "v1", uint8(0), click})
	var convs [][]any
	for _, c := range []struct{ id, ts, typ, order, amount, cur string }{
		{"c1", "2026-10-02 10:00:00", "signup", "", "0", ""},
		{"c2", "2026-10-05 10:00:00", "purchase", "o1", "870.81", "USD"}, // no USD rate loaded
		{"c3", "2026-10-06 10:00:00", "purchase", "o2", "20", "GBP"},
		{"c4", "2026-10-06 11:00:00", "purchase", "o3", "50", "EUR"},
	} {
		ts := at(c.ts)
		convs = append(convs, []any{c.id, ts, ts, c.typ, "ours", "u1", c.order, "v1", decimal.RequireFromString(c.amount), c.cur, "DE", ts})
	}
	testenv.Insert(t, ctx, db.Conn, schema.Conversions.InsertOnly("id", "ts", "received_at", "type", "source", "user_id", "order_id", "visitor", "amount", "currency", "country", "ingested_at"), convs...)
	rates := fx.NewStore(pg)
	if _, err := rates.Load(ctx, []fx.Rate{{Date: at("2026-10-06 00:00:00"), Currency: "GBP", PerEUR: decimal.RequireFromString("0.8")}}); err != nil {
		t.Fatal(err)
	}
	from, to := at("2026-10-01 00:00:00"), at("2026-11-01 00:00:00")
	attribute := func(wantUnconverted int) {
		t.Helper()
		sum, err := attribution.NewJob(db.Conn, cat, rates, testenv.Logger(t)).Run(ctx, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Unconverted != wantUnconverted || sum.Outcomes[attribution.OutcomeCredited] != 3 {
			t.Fatalf("attribution: %+v, want %d unconverted and 3 credited", sum, wantUnconverted)
		}
	}
	snap, err := cat.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env := &reports.Env{Conn: db.Conn, Catalog: snap}
	p := reports.Params{From: from, To: to.AddDate(0, 0, -1)}
	// cell is column name of partner acme's one row.
	cell := func(tab *reports.Table, name string) any {
		t.Helper()
		col := map[string]int{}
		for i, c := range tab.Columns {
			col[c.Name] = i
		}
		var rows [][]any
		for _, r := range tab.Rows {
			if r[col["partner"]] == "acme" {
				rows = append(rows, r)
			}
		}
		i, ok := col[name]
		if len(rows) != 1 || !ok {
			t.Fatalf("%s report: %d rows of acme, want 1, and column %s: %v", tab.Report, len(rows), name, tab.Rows)
		}
		return rows[0][i]
	}
	src := Source{Conn: db.Conn, PG: pg, Catalog: snap, Rates: rates, Now: func() time.Time { return testNow }}

	attribute(1)
	ps, err := reports.PartnershipsReport(ctx, env, p)
	if err != nil {
		t.Fatal(err)
	}
	// 20 GBP at 0.8 per EUR is 25 EUR; the USD purchase is not in revenue.
	if rev := cell(ps, "revenue").(decimal.Decimal); !rev.Equal(decimal.NewFromInt(75)) {
		t.Errorf("revenue %s, want 75 (USD left out)", rev)
	}
	if got := cell(ps, "revenue_by_currency"); got != "EUR 50.00; GBP 20.00; USD 870.81" {
		t.Errorf("revenue_by_currency %q", got)
	}
	wantNote := "missing FX rates: 1 credited conversions have no amount in the reporting currency, so revenue leaves them out " +
		"(revenue_by_currency has them): no ECB rate for USD on 2026-10-05 (acme-de inbound: 1 conversion, USD 870.81). " +
		"Load the rates (xpromo fx load FILE) and recompute (xpromo attribute --from 2026-10-05 --to 2026-10-05); " +
		"a statement needing them cannot be closed until then"
	if len(ps.Notes) == 0 || ps.Notes[0] != wantNote {
		t.Errorf("partnerships notes %q\nwant first %q", ps.Notes, wantNote)
	}
	var table bytes.Buffer
	if err := ps.Write(&table, reports.FormatTable); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "note: "+wantNote) {
		t.Errorf("the table format does not print the note:\n%s", table.String())
	}
	q, err := reports.QualityReport(ctx, env, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := cell(q, "missing_fx_rates"); got != "USD 2026-10-05 (1)" {
		t.Errorf("quality missing_fx_rates %q, want USD 2026-10-05 (1)", got)
	}
	for name, f := range map[string]func() error{
		"Build": func() error { _, err := Build(ctx, src, "2026-10"); return err },
		"Close": func() error { _, err := Close(ctx, src, "2026-10", "fin"); return err },
	} {
		err := f()
		var m *MissingRatesError
		if !errors.Is(err, ErrMissingRates) || !errors.As(err, &m) ||
			!reflect.DeepEqual(m.Missing, []MissingRate{{"USD", at("2026-10-05 00:00:00")}}) ||
			!strings.Contains(err.Error(), "no ECB rate (on the day or up to 7 days before) for USD on 2026-10-05; load the rates") {
			t.Errorf("%s without the USD rate: %v", name, err)
		}
	}
	var n int
	if err := pg.QueryRow(ctx, "SELECT count(*) FROM statements").Scan(&n); err != nil || n != 0 {
		t.Fatalf("a refused close stored %d statements (%v)", n, err)
	}

	// The rate arrives (for the Friday before: a Monday may use it).
	if _, err := rates.Load(ctx, []fx.Rate{{Date: at("2026-10-02 00:00:00"), Currency: "USD", PerEUR: decimal.RequireFromString("1.1")}}); err != nil {
		t.Fatal(err)
	}
	attribute(0)
	if ps, err = reports.PartnershipsReport(ctx, env, p); err != nil {
		t.Fatal(err)
	}
	for _, n := range ps.Notes {
		if strings.Contains(n, "missing FX") {
			t.Errorf("note after loading the rate: %s", n)
		}
	}
	// 870.81 / 1.1 = 791.645454..., stored as 791.645455; the rev-share
	// 866.65 * 10% = 86.665 rounds half-even to 86.66.
	if rev := cell(ps, "revenue").(decimal.Decimal); !rev.Equal(decimal.RequireFromString("866.645455")) {
		t.Errorf("revenue %s after loading the rate, want 866.645455", rev)
	}
	if q, err = reports.QualityReport(ctx, env, p); err != nil {
		t.Fatal(err)
	}
	if got := cell(q, "missing_fx_rates"); got != "" {
		t.Errorf("quality missing_fx_rates %q after loading the rate", got)
	}
	st, err := Close(ctx, src, "2026-10", "fin")
	if err != nil {
		t.Fatalf("Close after loading the rate: %v", err)
	}
	if len(st.Lines) != 1 || st.Lines[0].Revenue.String() != "866.65" || st.Lines[0].CPA.String() != "2" ||
		st.Lines[0].RevShare.String() != "86.66" || st.Lines[0].WeOwe.String() != "88.66" {
		t.Errorf("closed lines %+v", st.Lines)
	}
	reconcile(t, ctx, src, st)
}
