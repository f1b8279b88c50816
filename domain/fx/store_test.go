package fx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/testkit/testenv"
)

func countRows(t *testing.T, ctx context.Context, s *Store) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(ctx, "SELECT count(*) FROM fx_rates").Scan(&n); err != nil {
		t.Fatalf("count fx_rates: %v", err)
	}
	return n
}

// dumpRows is every stored row, in key order, as text.
func dumpRows(t *testing.T, ctx context.Context, s *Store) []string {
	t.Helper()
	rows, err := s.db.Query(ctx, "SELECT date::text || ' ' || currency || ' ' || per_eur::text || ' ' || loaded_at::text FROM fx_rates ORDER BY date, currency")
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStoreRoundTrip(t *testing.T) {
	db := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := NewStore(db.Pool).WithClock(func() time.Time { return day("2026-11-26") })
	path := filepath.Join("testdata", "eurofxref-hist.csv")
	want := parseFile(t, "eurofxref-hist.csv")

	var first []string
	for i := range 2 { // the second load of the same file leaves the same rows
		n, dates, err := LoadFile(ctx, s, path)
		if err != nil {
			t.Fatalf("LoadFile #%d: %v", i+1, err)
		}
		if n != len(want) {
			t.Errorf("LoadFile #%d loaded %d, want %d", i+1, n, len(want))
		}
		if !dates[0].Equal(day("2026-11-12")) || !dates[1].Equal(day("2026-11-25")) {
			t.Errorf("LoadFile #%d dates %v, want 2026-11-12..2026-11-25", i+1, dates)
		}
		rows := dumpRows(t, ctx, s)
		if len(rows) != len(want) {
			t.Errorf("LoadFile #%d: %d rows stored, want %d", i+1, len(rows), len(want))
		}
		if i == 0 {
			first = rows
		} else if !slices.Equal(rows, first) {
			t.Errorf("the second load changed the rows:\nfirst  %v\nsecond %v", first, rows)
		}
	}
	// The daily file repeats 2026-11-25 for six currencies and adds 23.
	n, dates, err := LoadFile(ctx, s, filepath.Join("testdata", "eurofxref.csv"))
	if err != nil || n != 29 || !dates[0].Equal(day("2026-11-25")) || !dates[1].Equal(day("2026-11-25")) {
		t.Fatalf("LoadFile daily = %d, %v, %v", n, dates, err)
	}
	if got := countRows(t, ctx, s); got != len(want)+23 {
		t.Errorf("%d stored rows, want %d", got, len(want)+23)
	}

	tab, err := s.Rates(ctx, day("2026-11-16"), day("2026-11-25"))
	if err != nil {
		t.Fatalf("Rates: %v", err)
	}
	// 2026-11-16 minus 7 days reaches back past the file's first date.
	if tab.Len() != len(want)+23 {
		t.Errorf("table holds %d rates, want %d (no duplicates)", tab.Len(), len(want)+23)
	}
	all, err := s.Rates(ctx, day("2026-11-12"), day("2026-11-25"))
	if err != nil {
		t.Fatalf("Rates: %v", err)
	}
	for _, r := range want {
		got, d, err := all.PerEUR(r.Currency, r.Date)
		if err != nil || !got.Equal(r.PerEUR) || !d.Equal(r.Date) || d.Location() != time.UTC {
			t.Errorf("%s on %s: %v %v %v, want %v", r.Currency, r.Date.Format(time.DateOnly), got, d, err, r.PerEUR)
		}
	}
	var cases []convertCase
	for _, c := range convertCases() {
		if c.at.Before(day("2026-11-16")) || c.at.After(day("2026-11-26")) ||
			c.name == "currency with no rates" { // SEK came with the daily file
			continue
		}
		cases = append(cases, c)
	}
	cases = append(cases,
		convertCase{name: "SEK from the daily file", amount: "100", from: "EUR", to: "SEK", at: at("2026-11-25T12:00:00Z"),
			amt: "1094.35", rate: "10.9435", rateDate: "2026-11-25"},
		convertCase{name: "before the range read", amount: "1", from: "EUR", to: "USD", at: at("2026-11-15T12:00:00Z"),
			err: ErrOutOfRange, errText: []string{"2026-11-15", "2026-11-16..2026-11-25"}},
		convertCase{name: "after the range read", amount: "1", from: "EUR", to: "USD", at: at("2026-11-26T00:00:00Z"),
			err: ErrOutOfRange, errText: []string{"2026-11-26"}},
	)
	runConvert(t, tab, cases)

	// Only the lookback before from is read.
	tab, err = s.Rates(ctx, day("2026-11-23"), day("2026-11-23"))
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != 6*6 { // 2026-11-16..2026-11-23: six business days, six currencies
		t.Errorf("one-day table holds %d rates, want 36", tab.Len())
	}
	if _, err := s.Rates(ctx, day("2026-11-23"), day("2026-11-22")); err == nil {
		t.Error("Rates with the end before the start succeeded")
	}
}

func TestStoreLoadBatchesAndReload(t *testing.T) {
	db := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := NewStore(db.Pool)
	clock := day("2026-11-26").Add(17 * time.Hour)
	s.now = func() time.Time { return clock }

	curs := []string{"AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "GBP", "HKD", "HUF", "IDR", "ILS", "INR", "ISK", "JPY", "KRW", "MXN", "MYR", "NOK", "NZD", "PHP", "PLN", "RON", "SEK", "SGD"}
	start := day("2024-01-01")
	var rates []Rate
	for i := range 1000 {
		for j, c := range curs {
			rates = append(rates, Rate{start.AddDate(0, 0, i), c, decimal.New(int64(100000+i*100+j), -5)})
		}
	}
	// numeric(18, 8) holds these exactly.
	edge := []Rate{
		{day("2026-11-25"), "USD", dec("9999999999.99999999")},
		{day("2026-11-24"), "USD", dec("0.00000001")},
		{day("2026-11-23"), "USD", dec("17543.12345678")},
	}
	rates = append(rates, edge...)
	n, err := s.Load(ctx, rates)
	if err != nil || n != len(rates) {
		t.Fatalf("Load = %d, %v; want %d", n, err, len(rates))
	}
	// A reload with corrected values, later: the latest load wins.
	clock = clock.Add(time.Hour)
	fixed := make([]Rate, len(rates))
	copy(fixed, rates)
	for i := range fixed[:len(rates)-len(edge)] {
		fixed[i].PerEUR = fixed[i].PerEUR.Add(dec("0.5"))
	}
	if n, err := s.Load(ctx, fixed); err != nil || n != len(fixed) {
		t.Fatalf("second Load = %d, %v", n, err)
	}
	if got := countRows(t, ctx, s); got != len(rates) {
		t.Errorf("%d rows stored, want %d", got, len(rates))
	}
	tab, err := s.Rates(ctx, start, day("2026-11-25"))
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != len(rates) {
		t.Fatalf("table holds %d, want %d", tab.Len(), len(rates))
	}
	for _, r := range fixed {
		got, _, err := tab.PerEUR(r.Currency, r.Date)
		if err != nil || !got.Equal(r.PerEUR) {
			t.Fatalf("%s %s: %v %v, want %v", r.Currency, r.Date.Format(time.DateOnly), got, err, r.PerEUR)
		}
	}
	var loadedAt time.Time
	if err := s.db.QueryRow(ctx, "SELECT min(loaded_at) FROM fx_rates").Scan(&loadedAt); err != nil {
		t.Fatal(err)
	}
	if !loadedAt.Equal(clock) {
		t.Errorf("loaded_at %v, want %v", loadedAt, clock)
	}
}

func TestStoreLoadRejects(t *testing.T) {
	db := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := NewStore(db.Pool)
	good := Rate{day("2026-11-25"), "USD", dec("1.1587")}
	for name, rates := range map[string][]Rate{
		"duplicate":   {good, good},
		"too precise": {good, {day("2026-11-25"), "GBP", dec("0.881251234567")}},
		"not UTC":     {good, {time.Date(2026, 11, 25, 0, 0, 0, 0, time.FixedZone("CET", 3600)), "GBP", dec("0.88")}},
		"after 2105":  {good, {day("2106-01-01"), "GBP", dec("0.88")}},
		"EUR":         {good, {day("2026-11-25"), "EUR", dec("1")}},
		"negative":    {good, {day("2026-11-25"), "GBP", dec("-0.88")}},
	} {
		if n, err := s.Load(ctx, rates); err == nil || n != 0 {
			t.Errorf("%s: Load = %d, %v; want an error and nothing written", name, n, err)
		}
	}
	if got := countRows(t, ctx, s); got != 0 {
		t.Errorf("refused loads wrote %d rows", got)
	}
	if n, err := s.Load(ctx, nil); err != nil || n != 0 {
		t.Errorf("Load(nil) = %d, %v", n, err)
	}

	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.csv", "Date,USD,\n2026-11-25,1.1587,\n2026-11-24,one,\n")
	_, _, err := LoadFile(ctx, s, bad)
	if pe, ok := errors.AsType[*ParseError](err); !ok || pe.Line != 3 || pe.Column != 2 ||
		err.Error() != "fx: "+bad+`: line 3, column 2 (USD): rate "one" is not a number` {
		t.Errorf("LoadFile(bad) = %v", err)
	}
	_, _, err = LoadFile(ctx, s, write("na.csv", "Date,USD,\n2026-11-25,N/A,\n"))
	if err == nil || !strings.Contains(err.Error(), "no rates") {
		t.Errorf("LoadFile(only N/A) = %v", err)
	}
	if _, _, err := LoadFile(ctx, s, filepath.Join(dir, "missing.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile(missing) = %v", err)
	}
	if got := countRows(t, ctx, s); got != 0 {
		t.Errorf("failed LoadFiles wrote %d rows", got)
	}
}
