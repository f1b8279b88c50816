package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/schema"
)

// seedElsewhere adds to setup's fixture a big market: alpha also runs
// ps-es-alpha in ES (link es-alpha-in), with 120 inbound clicks in
// October 2026, 6 new users and a purchase of 99.90 (order order-es-1),
// and 2 new users in September. So in October alpha does well in ES (at
// least 100 clicks: 50.0 new users per 1,000 clicks) and better in DE,
// on fewer clicks (4 new users on 24 clicks: 166.7).
func (en *env) seedElsewhere() {
	t, ctx := en.t, context.Background()
	start := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	if _, err := en.cat.AddPartnership(ctx, catalog.Partnership{ID: "ps-es-alpha", Partner: "alpha", Country: "ES", Direction: vocab.Inbound}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := en.cat.SetTerms(ctx, "ps-es-alpha", catalog.Terms{EffectiveFrom: start, StartDate: start, Currency: "EUR",
		InboundCPA: decimal.RequireFromString("1.75")}, "seed"); err != nil {
		t.Fatal(err)
	}
	if _, err := en.cat.AddLink(ctx, catalog.Link{Code: "es-alpha-in", Partnership: "ps-es-alpha", Direction: vocab.Inbound, URL: "https://ours.example/es"}, "test"); err != nil {
		t.Fatal(err)
	}
	hb, err := en.db.Conn.PrepareBatch(ctx, schema.Hits.InsertOnly("id", "ts", "kind", "link", "partnership", "partner", "direction", "visitor", "is_bot", "country", "ingested_at"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 120 {
		at := time.Date(2026, 10, 6, 10, 0, i, 0, time.UTC)
		if err := hb.Append(fmt.Sprintf("es-click-%03d", i), at, "click", "es-alpha-in", "ps-es-alpha", "alpha", "inbound",
			fmt.Sprintf("visitor-es-%d", i%40), uint8(0), "ES", at); err != nil {
			t.Fatal(err)
		}
	}
	if err := hb.Send(); err != nil {
		t.Fatal(err)
	}
	ab, err := en.db.Conn.PrepareBatch(ctx, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "user_id", "order_id", "outcome",
		"partnership", "partner", "country", "direction", "terms_version", "revenue", "currency", "revenue_rep", "rep_currency", "computed_at", "version"))
	if err != nil {
		t.Fatal(err)
	}
	add := func(id string, at time.Time, typ, outcome, user, order, rev string) {
		r := decimal.RequireFromString(rev)
		if err := ab.Append(id, at, typ, "ours", user, order, outcome, "ps-es-alpha", "alpha", "ES", "inbound", uint32(1), r, "EUR", r, "EUR", at, uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		add(fmt.Sprintf("es-signup-%d", i), time.Date(2026, 10, 7, 12, i, 0, 0, time.UTC), "signup", "new_user", fmt.Sprintf("user-es-%d", i), "", "0")
	}
	add("es-purchase-1", time.Date(2026, 10, 8, 12, 0, 0, 0, time.UTC), "purchase", "credited", "user-es-0", "order-es-1", "99.9")
	for i := range 2 {
		add(fmt.Sprintf("es-signup-sep-%d", i), time.Date(2026, 9, 12, 12, i, 0, 0, time.UTC), "signup", "new_user", fmt.Sprintf("user-es-sep-%d", i), "", "0")
	}
	if err := ab.Send(); err != nil {
		t.Fatal(err)
	}
}

func byPartner(it map[string]string) string { return it["partner"] }
func byCountry(it map[string]string) string { return it["country"] }

// rowOf is the row of tb with key k (fails the test without one).
func rowOf(t *testing.T, what string, tb *pageTable, k string) map[string]string {
	t.Helper()
	i := slices.Index(tb.keys, k)
	if i < 0 {
		t.Fatalf("%s: no row %q (rows %q)", what, k, tb.keys)
	}
	return tb.rows[i]
}

// wantCells checks the data-values of row.
func wantCells(t *testing.T, what string, row map[string]string, want map[string]string) {
	t.Helper()
	for col, w := range want {
		if got, ok := row[col]; !ok || got != w {
			t.Errorf("%s %s = %q (present %v), want %q", what, col, got, ok, w)
		}
	}
}

// TestElsewhereEqualsAPI: "What works elsewhere" and a partner's
// countries are GET /v1/insights/partners and GET
// /v1/partners/ID/countries for the same reader and period, cell for
// cell, with the seeded figures; a FR manager reads DE's and ES's rates,
// ranks and bands but no count, amount, partnership, link, user or order
// of theirs; admins and finance read it too, partners and services do
// not.
func TestElsewhereEqualsAPI(t *testing.T) {
	en := setup(t)
	en.seedElsewhere()
	period := url.Values{"from": {fromDay}, "to": {toDay}}

	fr := en.signedIn("cm-fr")
	resp, page := fr.get("/app/elsewhere?" + period.Encode())
	if resp.StatusCode != 200 {
		t.Fatalf("cm-fr elsewhere: %d %s", resp.StatusCode, page)
	}
	if !strings.Contains(page, `href="/app/elsewhere" aria-current="page"`) {
		t.Error("the menu has no current What works elsewhere entry")
	}
	tb := tables(t, page)
	sameAsAPI(t, "cm-fr partners", tb["partners"], en.apiItems("cm-fr", "/v1/insights/partners?absent=true&"+period.Encode()), byPartner)
	// bravo runs in FR: not there. alpha does well in ES only (DE has
	// fewer than 100 clicks): best and median are ES's.
	if !slices.Equal(tb["partners"].keys, []string{"alpha"}) {
		t.Fatalf("cm-fr partners %q, want alpha", tb["partners"].keys)
	}
	wantCells(t, "cm-fr alpha", rowOf(t, "cm-fr partners", tb["partners"], "alpha"), map[string]string{
		"name": "Alpha Werbung GmbH", "countries": "2", "country_list": "DE ES", "best_country": "ES",
		"best_new_users_per_1k_clicks": "50", "median_new_users_per_1k_clicks": "50", "best_share_of_country_new_users": "1",
		"absent_from": "FR", "playbooks": "0"})
	csvEqualsTable(t, fr, "partners", hrefs(t, page, "data-csv")["partners"], tb["partners"])
	// The period and the threshold are the API's parameters: with 10
	// clicks DE counts too.
	q10 := url.Values{"from": {fromDay}, "to": {toDay}, "min_clicks": {"10"}}
	_, page10 := fr.get("/app/elsewhere?" + q10.Encode())
	t10 := tables(t, page10)["partners"]
	sameAsAPI(t, "cm-fr partners min_clicks=10", t10, en.apiItems("cm-fr", "/v1/insights/partners?absent=true&"+q10.Encode()), byPartner)
	wantCells(t, "cm-fr alpha min_clicks=10", rowOf(t, "min_clicks=10", t10, "alpha"), map[string]string{
		"best_country": "DE", "best_new_users_per_1k_clicks": "166.7", "median_new_users_per_1k_clicks": "108.35"})
	// absent=false: every partner, as the API's.
	_, pageAll := fr.get("/app/elsewhere?absent=false&" + period.Encode())
	sameAsAPI(t, "cm-fr every partner", tables(t, pageAll)["partners"], en.apiItems("cm-fr", "/v1/insights/partners?"+period.Encode()), byPartner)

	// alpha's countries, through its link (the period kept).
	link := hrefs(t, page, "data-partner")["alpha"]
	if p, q := pathQuery(t, link); p != "/app/elsewhere/alpha" || q.Get("from") != fromDay || q.Get("to") != toDay {
		t.Fatalf("alpha's link %q", link)
	}
	resp, cpage := fr.get(link)
	if resp.StatusCode != 200 {
		t.Fatalf("cm-fr alpha countries: %d", resp.StatusCode)
	}
	ct := tables(t, cpage)["countries"]
	sameAsAPI(t, "cm-fr alpha countries", ct, en.apiItems("cm-fr", "/v1/partners/alpha/countries?"+period.Encode()), byCountry)
	if !slices.Equal(ct.keys, []string{"DE", "ES"}) {
		t.Errorf("countries in order %q, want DE (rank 1) then ES", ct.keys)
	}
	blank := map[string]string{"partnership": "", "clicks": "", "new_users_in": "", "new_users_out": "", "revenue_in": "", "revenue_out": "", "currency": ""}
	de := rowOf(t, "cm-fr countries", ct, "DE")
	wantCells(t, "cm-fr DE", de, map[string]string{"own": "no", "status": "active", "new_users_per_1k_clicks": "166.7", "share_of_country_new_users": "1",
		"balance_ratio": "3", "trend": "3", "rank": "1", "revenue_rank": "1", "clicks_band": "1-99", "since": "2026-08-01"})
	wantCells(t, "cm-fr DE", de, blank)
	es := rowOf(t, "cm-fr countries", ct, "ES")
	wantCells(t, "cm-fr ES", es, map[string]string{"own": "no", "new_users_per_1k_clicks": "50", "balance_ratio": "", "trend": "2",
		"rank": "2", "revenue_rank": "2", "clicks_band": "100-999"})
	wantCells(t, "cm-fr ES", es, blank)
	csvEqualsTable(t, fr, "countries", hrefs(t, cpage, "data-csv")["countries"], ct)
	// Nothing of the other countries' own: no partnership, link, user,
	// order, count or amount, on either page, in either CSV, in any link.
	for name, body := range map[string]string{"partners page": page, "countries page": cpage} {
		for _, secret := range []string{"ps-de-alpha", "ps-es-alpha", "de-in", "de-out", "es-alpha-in", "user-es-", "order-es-",
			"visitor-es-", "es-signup", "1234", "1,234", "99.9", "99,9", `data-value="24"`, `data-value="120"`} {
			if strings.Contains(body, secret) {
				t.Errorf("the FR manager's %s shows %q", name, secret)
			}
		}
	}
	if n := len(hrefs(t, cpage, "data-partnership")); n != 0 {
		t.Errorf("the FR manager's countries page links %d partnerships", n)
	}

	// The DE manager's own row has its counts, money and partnership.
	dem := en.signedIn("cm-de")
	_, dpage := dem.get("/app/elsewhere/alpha?" + period.Encode())
	dt := tables(t, dpage)["countries"]
	sameAsAPI(t, "cm-de alpha countries", dt, en.apiItems("cm-de", "/v1/partners/alpha/countries?"+period.Encode()), byCountry)
	wantCells(t, "cm-de DE", rowOf(t, "cm-de countries", dt, "DE"), map[string]string{"own": "yes", "partnership": "ps-de-alpha",
		"clicks": "24", "new_users_in": "3", "new_users_out": "1", "revenue_in": "1234.5", "revenue_out": "0", "currency": "EUR"})
	wantCells(t, "cm-de ES", rowOf(t, "cm-de countries", dt, "ES"), blank)
	if i := slices.Index(dt.keys, "DE"); i < 0 || dt.text[i]["revenue_in"] != "€\u00a01,234.50" || dt.text[i]["new_users_per_1k_clicks"] != "166.7" {
		t.Errorf("cm-de DE shown as %v", dt.text)
	}
	if got := hrefs(t, dpage, "data-partnership")["ps-de-alpha"]; !strings.HasPrefix(got, "/app/partnerships/ps-de-alpha?") {
		t.Errorf("the DE row's partnership link %q", got)
	}
	// bravo does well nowhere by 100 clicks; by 5, in FR.
	_, dpage = dem.get("/app/elsewhere?" + period.Encode())
	sameAsAPI(t, "cm-de partners", tables(t, dpage)["partners"], en.apiItems("cm-de", "/v1/insights/partners?absent=true&"+period.Encode()), byPartner)
	if keys := tables(t, dpage)["partners"].keys; len(keys) != 0 || !strings.Contains(dpage, `data-empty="partners"`) {
		t.Errorf("cm-de partners by 100 clicks %q", keys)
	}
	q5 := url.Values{"from": {fromDay}, "to": {toDay}, "min_clicks": {"5"}}
	_, dpage = dem.get("/app/elsewhere?" + q5.Encode())
	d5 := tables(t, dpage)["partners"]
	sameAsAPI(t, "cm-de partners min_clicks=5", d5, en.apiItems("cm-de", "/v1/insights/partners?absent=true&"+q5.Encode()), byPartner)
	wantCells(t, "cm-de bravo", rowOf(t, "cm-de min_clicks=5", d5, "bravo"), map[string]string{"best_country": "FR",
		"best_new_users_per_1k_clicks": "166.7", "absent_from": "DE", "country_list": "FR"})

	// Admins and finance: every partner, or those absent from a country.
	for _, who := range []string{"admin", "finance"} {
		b := en.signedIn(who)
		resp, body := b.get("/app/elsewhere?" + period.Encode())
		if resp.StatusCode != 200 || !strings.Contains(body, `href="/app/elsewhere"`) {
			t.Fatalf("%s elsewhere: %d", who, resp.StatusCode)
		}
		sameAsAPI(t, who+" partners", tables(t, body)["partners"], en.apiItems(who, "/v1/insights/partners?"+period.Encode()), byPartner)
		_, body = b.get("/app/elsewhere?country=FR&" + period.Encode())
		sameAsAPI(t, who+" partners absent from FR", tables(t, body)["partners"], en.apiItems(who, "/v1/insights/partners?absent=true&country=FR&"+period.Encode()), byPartner)
		_, body = b.get("/app/elsewhere/alpha?" + period.Encode())
		sameAsAPI(t, who+" alpha countries", tables(t, body)["countries"], en.apiItems(who, "/v1/partners/alpha/countries?"+period.Encode()), byCountry)
		if r, _ := b.get("/app/elsewhere?absent=true"); r.StatusCode != http.StatusBadRequest {
			t.Errorf("%s absent=true without a country: %d, want 400 as the API", who, r.StatusCode)
		}
	}

	// Partners and services are refused, and the menu does not offer it.
	for _, c := range []struct {
		who, path string
		code      int
	}{
		{"partner-a", "/app/elsewhere", 404},
		{"partner-a", "/app/elsewhere/alpha", 404},
		{"partner-a", "/app/elsewhere/partners.csv", 404},
		{"partner-b", "/app/elsewhere/alpha/countries.csv", 404},
		{"service", "/app/elsewhere", 404},
		{"cm-fr", "/app/elsewhere/nobody", 404},
		{"cm-fr", "/app/elsewhere/Bad.Id", 404},
		{"cm-fr", "/app/elsewhere?from=2026-13-01", 400},
		{"cm-fr", "/app/elsewhere?from=2026-10-05&to=2026-10-01", 400},
		{"cm-fr", "/app/elsewhere?min_clicks=0", 400},
		{"cm-fr", "/app/elsewhere?absent=maybe", 400},
		{"cm-fr", "/app/elsewhere?country=FRA", 400},
		{"cm-fr", "/app/elsewhere", 200}, // the default period: the 90 days before today
	} {
		b := en.signedIn(c.who)
		if resp, body := b.get(c.path); resp.StatusCode != c.code {
			t.Errorf("%s %s: %d, want %d", c.who, c.path, resp.StatusCode, c.code)
		} else if c.code == 404 && strings.Contains(body, "Alpha Werbung") {
			t.Errorf("%s %s: the 404 names alpha", c.who, c.path)
		}
	}
	for _, who := range []string{"partner-a", "service"} {
		b := en.signedIn(who)
		if _, body := b.get("/app/account"); strings.Contains(body, "/app/elsewhere") {
			t.Errorf("%s's menu offers What works elsewhere", who)
		}
	}
	if code, _ := en.apiBytes("partner-a", "/v1/insights/partners"); code != http.StatusForbidden {
		t.Errorf("the API answers partner-a %d (the page's refusal follows it)", code)
	}
}

func pathQuery(t *testing.T, u string) (string, url.Values) {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Path, p.Query()
}

// TestElsewherePlaybook: the playbook form of the partnership page is
// PUT /v1/partnerships/ID/playbook: the DE manager writes the note of
// ps-de-alpha, which the FR manager then reads on alpha's countries; a
// form made from an older note is refused ("changed by someone else"),
// a note too long names the field, an empty one removes it; the FR
// manager, partners and posts without CSRF are refused.
func TestElsewherePlaybook(t *testing.T) {
	en := setup(t)
	period := url.Values{"from": {fromDay}, "to": {toDay}}
	de := en.signedIn("cm-de")
	_, page := de.get("/app/partnerships/ps-de-alpha")
	if !strings.Contains(page, `<form id="playbook"`) || !strings.Contains(page, `data-playbook="0"`) {
		t.Fatalf("the DE manager's partnership page has no playbook form:\n%s", page)
	}
	csrf := csrfOf(t, page)
	const note = "Autumn banner on the home page: sign-ups doubled.\nKeep the landing page in German."
	post := func(b *browser, csrf, version, text string) (*http.Response, string) {
		return b.do("POST", "/app/partnerships/ps-de-alpha/playbook", url.Values{"csrf": {csrf}, "form": {"playbook"},
			"version": {version}, "note": {text}, "return": {"/app/partnerships/ps-de-alpha"}}, nil)
	}
	r, _ := post(de, csrf, "0", note)
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/app/partnerships/ps-de-alpha?notice=") {
		t.Fatalf("save: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	_, page = de.get(r.Header.Get("Location"))
	if !strings.Contains(page, `data-playbook="1"`) || !strings.Contains(page, "sign-ups doubled") {
		t.Errorf("the saved note is not shown:\n%s", page)
	}
	// The FR manager reads it next to DE's results, as the API gives it.
	fr := en.signedIn("cm-fr")
	_, cpage := fr.get("/app/elsewhere/alpha?" + period.Encode())
	ct := tables(t, cpage)["countries"]
	items := en.apiItems("cm-fr", "/v1/partners/alpha/countries?"+period.Encode())
	sameAsAPI(t, "cm-fr alpha countries with a note", ct, items, byCountry)
	row := rowOf(t, "cm-fr countries", ct, "DE")
	if row["playbook"] != note || row["playbook_by"] == "" || row["playbook_at"] == "" || row["partnership"] != "" {
		t.Errorf("the DE row with its note: %v", row)
	}
	// A form made from no note, or from version 1 after a change, is
	// stale: 409, the current note shown, nothing written.
	if r, body := post(de, csrf, "0", "something else"); r.StatusCode != http.StatusConflict || !strings.Contains(body, "changed by someone else") {
		t.Errorf("stale from none: %d", r.StatusCode)
	}
	if r, _ := post(de, csrf, "1", note+" Twice."); r.StatusCode != http.StatusSeeOther {
		t.Errorf("save from version 1: %d", r.StatusCode)
	}
	if r, body := post(de, csrf, "1", "overwrite"); r.StatusCode != http.StatusConflict || !strings.Contains(body, "now version 2") ||
		!strings.Contains(body, "Twice.") {
		t.Errorf("stale from version 1: %d", r.StatusCode)
	}
	// Too long: 422 naming the note, what was posted kept.
	long := strings.Repeat("x", catalog.MaxPlaybookNote+1)
	if r, body := post(de, csrf, "2", long); r.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(body, `data-form-error="playbook" data-field="note"`) || !strings.Contains(body, long) {
		t.Errorf("too long: %d", r.StatusCode)
	}
	// Not the FR manager's (404, as the page), nor a partner's (403), nor
	// without CSRF (403); none of them writes.
	if r, _ := post(fr, csrfOf(t, cpage), "2", "from FR"); r.StatusCode != http.StatusNotFound {
		t.Errorf("cm-fr: %d", r.StatusCode)
	}
	pa := en.signedIn("partner-a")
	_, ppage := pa.get("/app/partnerships/ps-de-alpha")
	if strings.Contains(ppage, "Playbook") || strings.Contains(ppage, "Twice.") {
		t.Error("a partner's partnership page shows the playbook")
	}
	if r, _ := post(pa, csrfOf(t, ppage), "2", "from the partner"); r.StatusCode != http.StatusForbidden {
		t.Errorf("partner-a: %d", r.StatusCode)
	}
	if r, _ := post(de, "", "2", "no csrf"); r.StatusCode != http.StatusForbidden {
		t.Errorf("without csrf: %d", r.StatusCode)
	}
	pbs, err := en.cat.Playbooks(context.Background())
	if err != nil || pbs["ps-de-alpha"].Note != note+" Twice." || pbs["ps-de-alpha"].Version != 2 {
		t.Fatalf("stored %+v %v", pbs, err)
	}
	// Audited as the API's PUT is (the store's entries), by the manager.
	var audit struct {
		Items []map[string]any `json:"items"`
	}
	en.apiJSON("admin", "/v1/audit?entity=playbook", &audit)
	if len(audit.Items) != 2 {
		t.Errorf("audit %v", audit.Items)
	}
	// An empty note removes it.
	if r, _ := post(de, csrf, "2", "  "); r.StatusCode != http.StatusSeeOther || !strings.Contains(r.Header.Get("Location"), "removed") {
		t.Errorf("remove: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if pbs, _ := en.cat.Playbooks(context.Background()); len(pbs) != 0 {
		t.Errorf("after removal %v", pbs)
	}
}

// TestElsewhereReplicate: form#replicate on a partner's countries page
// is POST /v1/partners/ID/replicate. The FR manager copies alpha's DE
// partnership into FR: blind (it does not read DE), so the money and a
// URL template per direction are required, each refusal naming its field
// (422); then the copy is made (terms, both links localised, its origin)
// and shows in alpha's countries as FR's own, replicated from DE. A
// second copy, the DE manager writing into FR and a partner are refused.
func TestElsewhereReplicate(t *testing.T) {
	en := setup(t)
	period := url.Values{"from": {fromDay}, "to": {toDay}}
	fr := en.signedIn("cm-fr")
	_, page := fr.get("/app/elsewhere/alpha?" + period.Encode())
	if !strings.Contains(page, `<form id="replicate"`) || !strings.Contains(page, `<option>DE</option>`) || !strings.Contains(page, `<option>FR</option>`) {
		t.Fatalf("no replicate form from DE into FR:\n%s", page)
	}
	form := url.Values{"csrf": {csrfOf(t, page)}, "form": {"replicate"}, "return": {"/app/elsewhere/alpha?" + period.Encode()},
		"source_country": {"DE"}, "country": {"FR"}}
	post := func(b *browser, f url.Values) (*http.Response, string) {
		return b.do("POST", "/app/elsewhere/alpha/replicate", f, nil)
	}
	refused := func(what, field string) {
		t.Helper()
		r, body := post(fr, form)
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-form-error="replicate" data-field="`+field+`"`) {
			t.Errorf("%s: %d, want 422 naming %s", what, r.StatusCode, field)
		}
	}
	refused("no money", "terms.currency")
	form.Set("terms.currency", "EUR")
	form.Set("terms.inbound_cpa", "2.00")
	form.Set("terms.inbound_revshare_pct", "0")
	form.Set("terms.outbound_cpa", "1.x")
	refused("a bad CPA", "terms.outbound_cpa")
	form.Set("terms.outbound_cpa", "1.00")
	form.Set("terms.outbound_revshare_pct", "5")
	refused("no URL template", "url_template")
	form.Set("url_template", "https://ours.example/{lang}/{campaign}")
	form.Set("outbound_url_template", "https://alpha.example/{country}/offer")
	r, _ := post(fr, form)
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/app/partnerships/alpha-fr?notice=") {
		t.Fatalf("replicate: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	var ps map[string]any
	if en.apiJSON("cm-fr", "/v1/partnerships/alpha-fr", &ps) != 200 || ps["partner"] != "alpha" || ps["country"] != "FR" || ps["direction"] != "both" {
		t.Errorf("the copy: %v", ps)
	}
	links := en.apiItems("cm-fr", "/v1/links?partnership=alpha-fr")
	var urls []string
	for _, l := range links {
		urls = append(urls, l["url"])
	}
	slices.Sort(urls)
	if !slices.Equal(urls, []string{"https://alpha.example/fr/offer", "https://ours.example/fr/autumn"}) {
		t.Errorf("the copy's links %q", urls)
	}
	terms := en.apiItems("cm-fr", "/v1/partnerships/alpha-fr/versions")
	if len(terms) != 1 || terms[0]["currency"] != "EUR" || terms[0]["inbound_cpa"] != "2" || terms[0]["outbound_cpa"] != "1" ||
		terms[0]["outbound_revshare_pct"] != "5" || terms[0]["created_by"] == "" {
		t.Errorf("the copy's terms %v", terms)
	}
	_, page = fr.get("/app/elsewhere/alpha?" + period.Encode())
	ct := tables(t, page)["countries"]
	sameAsAPI(t, "alpha countries after the copy", ct, en.apiItems("cm-fr", "/v1/partners/alpha/countries?"+period.Encode()), byCountry)
	wantCells(t, "alpha FR", rowOf(t, "after the copy", ct, "FR"), map[string]string{"own": "yes", "partnership": "alpha-fr", "replicated_from": "DE"})
	if strings.Contains(page, `<form id="replicate"`) {
		t.Error("alpha runs in every country of the FR manager: still a replicate form")
	}
	var audit struct {
		Items []map[string]any `json:"items"`
	}
	en.apiJSON("admin", "/v1/audit?entity=partnership", &audit)
	n := 0
	for _, it := range audit.Items {
		if it["action"] == catalog.ActionReplicate || it["action"] == catalog.ActionReplicated {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d replicate entries in the audit, want 2 (the copy's, the notice in DE)", n)
	}
	// Again: alpha runs in FR now.
	if r, _ := post(fr, form); r.StatusCode < 400 || r.StatusCode >= 500 {
		t.Errorf("a second copy into FR: %d", r.StatusCode)
	}
	// Writing into a country not one's own, a partner, a missing partner.
	de := en.signedIn("cm-de")
	_, dpage := de.get("/app/elsewhere/bravo?" + period.Encode())
	form.Set("csrf", csrfOf(t, dpage))
	form.Set("source_country", "FR")
	form.Set("country", "FR")
	if r, _ := de.do("POST", "/app/elsewhere/bravo/replicate", form, nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("cm-de into FR: %d", r.StatusCode)
	}
	pa := en.signedIn("partner-a")
	_, ppage := pa.get("/app/partner")
	form.Set("csrf", csrfOf(t, ppage))
	if r, _ := pa.do("POST", "/app/elsewhere/alpha/replicate", form, nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("partner-a: %d", r.StatusCode)
	}
	form.Set("csrf", csrfOf(t, dpage))
	form.Set("country", "DE")
	if r, _ := de.do("POST", "/app/elsewhere/nobody/replicate", form, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("a missing partner: %d", r.StatusCode)
	}
}
