package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/fx"
)

// TestStatementsAPI: finance reads, closes and exports a month; the other
// roles read only their lines, and only finance and admin may close.
func TestStatementsAPI(t *testing.T) {
	en := setup(t) // ps-de-alpha and ps-fr-bravo: terms from 2026-09-01, EUR, inbound CPA 1
	at := time.Date(2026, 10, 15, 12, 0, 0, 0, time.UTC)
	var rows []testAttribution
	for i, ps := range []string{"ps-de-alpha", "ps-de-alpha", "ps-de-alpha", "ps-fr-bravo", "ps-fr-bravo"} {
		partner, cc := "alpha", "DE"
		if ps == "ps-fr-bravo" {
			partner, cc = "bravo", "FR"
		}
		rows = append(rows, testAttribution{"c" + string(rune('a'+i)), "signup", "new_user", ps, partner, cc, "0", "", at})
	}
	en.insertAttributions(t, rows...)
	get := func(who, path string) (int, string) {
		t.Helper()
		return en.do("GET", path, who, "")
	}
	for _, c := range []struct {
		who        string
		code       int
		has, hasnt []string
	}{
		{"finance", 200, []string{"ps-de-alpha", "ps-fr-bravo"}, nil},
		{"admin", 200, []string{"ps-de-alpha", "ps-fr-bravo"}, nil},
		{"cm-de", 200, []string{"ps-de-alpha"}, []string{"bravo"}},
		{"partner-b", 200, []string{"ps-fr-bravo"}, []string{"alpha"}},
		{"service", 403, nil, nil},
	} {
		code, body := get(c.who, "/v1/statements?period=2026-10")
		if code != c.code {
			t.Fatalf("%s: %d %s", c.who, code, body)
		}
		for _, s := range c.has {
			if !strings.Contains(body, s) {
				t.Errorf("%s: no %s in %s", c.who, s, body)
			}
		}
		for _, s := range c.hasnt {
			if strings.Contains(body, s) {
				t.Errorf("%s: sees %q: %s", c.who, s, body)
			}
		}
	}
	if code, _ := get("finance", "/v1/statements?period=October"); code != 400 {
		t.Errorf("bad period: %d", code)
	}
	for _, who := range []string{"cm-de", "partner-a", "service"} {
		if code, _ := en.do("POST", "/v1/statements/close?period=2026-10", who, ""); code != 403 {
			t.Errorf("%s closes: %d", who, code)
		}
	}
	if code, body := en.do("POST", "/v1/statements/close?period=2026-10", "finance", ""); code != 201 || !strings.Contains(body, `"closed"`) {
		t.Fatalf("close: %d %s", code, body)
	}
	if code, _ := en.do("POST", "/v1/statements/close?period=2026-10", "admin", ""); code != 409 {
		t.Errorf("close twice: %d", code)
	}
	for _, format := range []string{"csv", "xlsx", "json"} {
		export := func() (string, []byte) {
			w := en.serve("GET", "/v1/exports/statements?period=2026-10&format="+format, "finance", "")
			if w.Code != 200 {
				t.Fatalf("export %s: %d %s", format, w.Code, w.Body.String())
			}
			return w.Header().Get("Content-Disposition"), w.Body.Bytes()
		}
		name1, body1 := export()
		name2, body2 := export()
		if !strings.Contains(name1, "2026-10") || !strings.Contains(name1, "."+format) || name1 != name2 || string(body1) != string(body2) {
			t.Errorf("%s: %q / %q, identical bytes %v", format, name1, name2, string(body1) == string(body2))
		}
	}
}

// missingRatesText is the error docs/STATEMENTS.md prints for a statement
// whose revenue needs rates not loaded: USD on 2026-10-05, GBP on
// 2026-10-06.
const missingRatesText = "missing ECB rates: no ECB rate (on the day or up to 7 days before) for USD on 2026-10-05, GBP on 2026-10-06; " +
	"load the rates (xpromo fx load FILE) and try again"

// TestStatementsMissingFXRates: October has credited purchases in USD and
// GBP (terms in EUR) and no ECB rate for either day. Reading, exporting and
// closing the statement answer 409 missing_fx_rates with the currency-days
// (and no partner, whoever asks); nothing is closed. Once the rates are
// loaded the same requests succeed.
func TestStatementsMissingFXRates(t *testing.T) {
	en := setup(t) // ps-de-alpha and ps-fr-bravo: terms from 2026-09-01, EUR, inbound CPA 1
	en.insertAttributions(t,
		testAttribution{"s1", "signup", "new_user", "ps-de-alpha", "alpha", "DE", "0", "", time.Date(2026, 10, 2, 10, 0, 0, 0, time.UTC)},
		testAttribution{"p1", "purchase", "credited", "ps-de-alpha", "alpha", "DE", "870.81", "USD", time.Date(2026, 10, 5, 10, 0, 0, 0, time.UTC)},
		testAttribution{"p2", "purchase", "credited", "ps-fr-bravo", "bravo", "FR", "20", "GBP", time.Date(2026, 10, 6, 10, 0, 0, 0, time.UTC)})

	refused := []struct{ method, path, who string }{
		{"GET", "/v1/statements?period=2026-10", "finance"},
		{"GET", "/v1/statements?period=2026-10", "admin"},
		{"GET", "/v1/statements?period=2026-10", "cm-fr"},
		{"GET", "/v1/statements?period=2026-10", "partner-b"},
		{"GET", "/v1/exports/statements?period=2026-10&format=csv", "finance"},
		{"GET", "/v1/exports/statements?period=2026-10&format=xlsx", "partner-a"},
		{"POST", "/v1/statements/close?period=2026-10", "finance"},
		{"POST", "/v1/statements/close?period=2026-10", "admin"},
	}
	for _, r := range refused {
		code, body := en.do(r.method, r.path, r.who, "")
		var e ErrorBody
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != 409 || e.Error != "missing_fx_rates" {
			t.Errorf("%s %s as %s without the rates: %d %s, want 409 missing_fx_rates", r.method, r.path, r.who, code, body)
			continue
		}
		if e.Reason != missingRatesText {
			t.Errorf("%s %s as %s: reason %q\nwant %q", r.method, r.path, r.who, e.Reason, missingRatesText)
		}
		for _, name := range []string{"alpha", "bravo", "ps-de", "ps-fr"} {
			if strings.Contains(body, name) {
				t.Errorf("%s %s as %s: the error names %q: %s", r.method, r.path, r.who, name, body)
			}
		}
	}
	ctx := context.Background()
	var n int
	if err := en.pg.QueryRow(ctx, "SELECT count(*) FROM statements").Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused closes stored %d statements (%v)", n, err)
	}
	if err := en.pg.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE entity = 'statement'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused closes audited %d times (%v)", n, err)
	}

	// Only one of the two arrives: the other is still named, alone.
	rates := fx.NewStore(en.pg)
	if _, err := rates.Load(ctx, []fx.Rate{{Date: time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC), Currency: "USD", PerEUR: decimal.RequireFromString("1.1")}}); err != nil {
		t.Fatal(err)
	}
	code, body := en.do("GET", "/v1/statements?period=2026-10", "finance", "")
	if code != 409 || !strings.Contains(body, "for GBP on 2026-10-06; load the rates") || strings.Contains(body, "USD") {
		t.Errorf("with the USD rate only: %d %s", code, body)
	}

	if _, err := rates.Load(ctx, []fx.Rate{{Date: time.Date(2026, 10, 6, 0, 0, 0, 0, time.UTC), Currency: "GBP", PerEUR: decimal.RequireFromString("0.8")}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range refused {
		if r.method == "POST" {
			continue
		}
		if code, body := en.do(r.method, r.path, r.who, ""); code != 200 {
			t.Errorf("%s %s as %s with the rates loaded: %d %s", r.method, r.path, r.who, code, body)
		}
	}
	// 870.81 USD / 1.1 = 791.65 EUR for alpha, 20 GBP / 0.8 = 25 EUR for bravo.
	code, body = en.do("POST", "/v1/statements/close?period=2026-10", "finance", "")
	if code != 201 || !strings.Contains(body, `"closed"`) || !strings.Contains(body, `"791.65"`) || !strings.Contains(body, `"25.00"`) ||
		!strings.Contains(body, "USD>EUR") || !strings.Contains(body, "GBP>EUR") {
		t.Fatalf("close with the rates loaded: %d %s", code, body)
	}
}

// TestStatementsMissingFXRatesInClosedPeriod: September is closed, then a
// credited USD purchase for it arrives late with no ECB rate for its day.
// October's statement recomputes September for its adjustment lines, so
// reading and closing October answer 409 missing_fx_rates naming the
// September day; with the rate loaded October carries the adjustment.
func TestStatementsMissingFXRatesInClosedPeriod(t *testing.T) {
	en := setup(t)
	ctx := context.Background()
	insert := func(id, typ, outcome, amount, cur string, at time.Time) {
		t.Helper()
		en.insertAttributions(t, testAttribution{id, typ, outcome, "ps-de-alpha", "alpha", "DE", amount, cur, at})
	}
	insert("s1", "signup", "new_user", "0", "", time.Date(2026, 9, 10, 10, 0, 0, 0, time.UTC))
	insert("s2", "signup", "new_user", "0", "", time.Date(2026, 10, 10, 10, 0, 0, 0, time.UTC))
	if code, body := en.do("POST", "/v1/statements/close?period=2026-09", "finance", ""); code != 201 {
		t.Fatalf("close September: %d %s", code, body)
	}
	insert("p1", "purchase", "credited", "100", "USD", time.Date(2026, 9, 14, 10, 0, 0, 0, time.UTC)) // late, no USD rate
	const want = "missing ECB rates: no ECB rate (on the day or up to 7 days before) for USD on 2026-09-14; " +
		"load the rates (xpromo fx load FILE) and try again"
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/statements?period=2026-10"},
		{"POST", "/v1/statements/close?period=2026-10"},
	} {
		code, body := en.do(r.method, r.path, "finance", "")
		var e ErrorBody
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != 409 || e.Error != "missing_fx_rates" || e.Reason != want {
			t.Errorf("%s %s without the USD rate: %d %s\nwant 409 missing_fx_rates %q", r.method, r.path, code, body, want)
		}
	}
	if _, err := fx.NewStore(en.pg).Load(ctx, []fx.Rate{{Date: time.Date(2026, 9, 14, 0, 0, 0, 0, time.UTC), Currency: "USD",
		PerEUR: decimal.RequireFromString("1.25")}}); err != nil {
		t.Fatal(err)
	}
	// 100 USD / 1.25 = 80 EUR, carried by October as an adjustment of September.
	code, body := en.do("POST", "/v1/statements/close?period=2026-10", "finance", "")
	var st struct {
		Lines []struct {
			Kind          string `json:"kind"`
			AdjustsPeriod string `json:"adjusts_period"`
			Revenue       string `json:"revenue"`
		} `json:"lines"`
	}
	adjusted := false
	if err := json.Unmarshal([]byte(body), &st); err == nil {
		for _, l := range st.Lines {
			adjusted = adjusted || (l.Kind == "adjustment" && l.AdjustsPeriod == "2026-09" && l.Revenue == "80.00")
		}
	}
	if code != 201 || !adjusted {
		t.Fatalf("close October with the rate loaded: %d, want 201 with an adjustment of 2026-09 of revenue 80.00: %s", code, body)
	}
}
