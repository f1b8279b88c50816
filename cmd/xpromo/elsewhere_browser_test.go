package main

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/testkit/browser"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestElsewhereInBrowser drives "What works elsewhere" in headless
// Chromium as the FR manager, on seedDashboard's data (acme and beta run
// in DE, gamma in FR): reached from the menu, its partners table equals
// GET /v1/insights/partners?absent=true for the period the form shows,
// then for the two months seeded with a threshold of 5 clicks (acme and
// beta, absent from FR); acme's countries, reached by its link, equal
// GET /v1/partners/acme/countries, DE's rates and ranks shown, its
// counts, money and partnership not.
func TestElsewhereInBrowser(t *testing.T) {
	db := newDB(t)
	r := testenv.NewRedis(t)
	data := seedDashboard(t, db)
	secret, _, err := auth.NewStore(pgOf(db).Pool).WithClock(testenv.Clock()).Create(context.Background(),
		auth.Spec{Role: access.RoleCountryManager, Countries: []string{"FR"}, Name: "elsewhere test FR"})
	if err != nil {
		t.Fatal(err)
	}
	s := startServe(t, r.URL, r.Prefix, db)
	frAPI := apiClient{t, s.base, secret}
	b := browser.Start(t, browser.Config{})
	fr := b.NewPage(t, "fr-manager-elsewhere")
	fr.Open(s.base + "/app/signin")
	fr.Fill("form#signin", map[string]string{"token": secret})
	if resp := fr.Submit("form#signin"); urlPath(t, resp.URL) != "/app/country/FR" {
		t.Fatalf("the FR manager's sign-in led to %s", resp.URL)
	}
	resp := fr.Click("nav a[href='/app/elsewhere']")
	if resp.Status != 200 || urlPath(t, resp.URL) != "/app/elsewhere" {
		t.Fatalf("the menu's What works elsewhere led to %s (%d)", resp.URL, resp.Status)
	}
	// The page's default period is the API's: its table equals the API's
	// without from and to, and with the dates the form shows.
	shown := url.Values{"from": {fr.Value("form#period [name=from]")}, "to": {fr.Value("form#period [name=to]")}}
	for what, path := range map[string]string{"default period": "/v1/insights/partners?absent=true",
		"default period, dates shown": "/v1/insights/partners?absent=true&" + shown.Encode()} {
		items := frAPI.items(path)
		if len(items) == 0 { // an empty table is hidden: its message shows instead
			if fr.Count("[data-empty=partners]") != 1 || fr.Count("table[data-table=partners] tr[data-key]") != 0 {
				t.Errorf("%s: the API has no partner, the page does not say so", what)
			}
			continue
		}
		sameRows(t, what, fr.Table("partners"), items, byPartner)
	}

	// The two seeded months, "doing well" from 5 clicks.
	today := testenv.Now().UTC().Format(time.DateOnly)
	fr.Fill("form#period", map[string]string{"from": data.prev.Format(time.DateOnly), "to": today, "min_clicks": "5"})
	resp = fr.Submit("form#period")
	p, q := pathOf(t, resp.URL)
	if p != "/app/elsewhere" || q.Get("from") != data.prev.Format(time.DateOnly) || q.Get("to") != today || q.Get("min_clicks") != "5" {
		t.Fatalf("the form sent %s", resp.URL)
	}
	q.Set("absent", "true")
	partners := fr.Table("partners")
	api := sameRows(t, "partners", partners, frAPI.items("/v1/insights/partners?"+q.Encode()), byPartner)
	if keys := partners.Keys(); !slices.Equal(keys, []string{"acme", "beta"}) {
		t.Fatalf("partners absent from FR %q, want acme and beta (gamma runs in FR)", keys)
	}
	// acme: 8 new users on 25 clicks in DE over the two months.
	if it := api["acme"]; it["best_country"] != "DE" || it["best_new_users_per_1k_clicks"] != "320" || it["absent_from"] != "FR" {
		t.Errorf("API acme: %v", it)
	}
	shoot(t, fr, "elsewhere")

	resp = fr.Click("a[data-partner=acme]")
	p, cq := pathOf(t, resp.URL)
	if p != "/app/elsewhere/acme" || resp.Status != 200 || cq.Get("from") != q.Get("from") || cq.Get("to") != q.Get("to") {
		t.Fatalf("acme's link led to %s (%d)", resp.URL, resp.Status)
	}
	countries := fr.Table("countries")
	sameRows(t, "acme countries", countries, frAPI.items("/v1/partners/acme/countries?"+url.Values{"from": cq["from"], "to": cq["to"]}.Encode()), byCountry)
	row, ok := countries.Row("DE")
	if !ok {
		t.Fatalf("acme's countries %q: no DE", countries.Keys())
	}
	for col, want := range map[string]string{"own": "no", "new_users_per_1k_clicks": "320", "rank": "1", "clicks_band": "1-99",
		"partnership": "", "clicks": "", "new_users_in": "", "revenue_in": "", "currency": ""} {
		if c, _ := row.Cell(col); c.Value != want {
			t.Errorf("acme DE %s: %q (shown %q), want %q", col, c.Value, c.Text, want)
		}
	}
	if n := fr.Count("a[data-partnership]"); n != 0 {
		t.Errorf("the FR manager's countries page links %d partnerships", n)
	}
	if text := fr.Text("main"); strings.Contains(text, "acme-de") || strings.Contains(text, "89.99") {
		t.Error("the FR manager's countries page shows acme-de's id or revenue")
	}
	shoot(t, fr, "elsewhere-partner")
}

func byPartner(it map[string]string) string { return it["partner"] }

func byCountry(it map[string]string) string { return it["country"] }
