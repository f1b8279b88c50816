package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/xml"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// apiItems GETs a report or list from the API as who: its items with every
// value as a data-value must show it.
func (en *env) apiItems(who, path string) []map[string]string {
	en.t.Helper()
	var body struct {
		Items []map[string]any `json:"items"`
		Lines []map[string]any `json:"lines"`
	}
	if code := en.apiJSON(who, path, &body); code != 200 {
		en.t.Fatalf("API %s as %s: %d", path, who, code)
	}
	items := body.Items
	if items == nil {
		items = body.Lines
	}
	out := make([]map[string]string, len(items))
	for i, it := range items {
		out[i] = map[string]string{}
		for k, v := range it {
			out[i][k] = jsonRaw(v)
		}
	}
	return out
}

// sameAsAPI checks that table tb has exactly the API's rows (by key) and
// that every cell's data-value is the API's value of that field.
func sameAsAPI(t *testing.T, what string, tb *pageTable, items []map[string]string, key func(map[string]string) string) {
	t.Helper()
	if tb == nil {
		t.Fatalf("%s: no such table", what)
	}
	byKey := map[string]map[string]string{}
	var want []string
	for _, it := range items {
		k := key(it)
		if _, dup := byKey[k]; dup {
			t.Errorf("%s: key %q twice in the API's answer", what, k)
		}
		byKey[k] = it
		want = append(want, k)
	}
	got := slices.Clone(tb.keys)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: page rows %q, API rows %q", what, got, want)
	}
	for i, row := range tb.rows {
		it := byKey[tb.keys[i]]
		if it == nil {
			continue
		}
		if len(row) == 0 {
			t.Errorf("%s row %s: no cells", what, tb.keys[i])
		}
		for col, v := range row {
			// A field the API omits when empty (omitempty) shows as "".
			if w, ok := it[col]; (!ok && v != "") || w != v {
				t.Errorf("%s row %s col %s: page %q (shown %q), API %q (present %v)", what, tb.keys[i], col, v, tb.text[i][col], w, ok)
			}
		}
	}
}

// csvEqualsTable downloads href and checks it against the table.
func csvEqualsTable(t *testing.T, b *browser, what, href string, tb *pageTable) {
	t.Helper()
	resp, body := b.get(href)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("%s CSV %s: %d %s", what, href, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("%s CSV: %v %q", what, err, body)
	}
	if !slices.Equal(recs[0], tb.cols) {
		t.Errorf("%s CSV header %q, table columns %q", what, recs[0], tb.cols)
	}
	if len(recs)-1 != len(tb.rows) {
		t.Fatalf("%s CSV has %d rows, the table %d", what, len(recs)-1, len(tb.rows))
	}
	for i, row := range tb.rows {
		for j, col := range recs[0] {
			if recs[i+1][j] != row[col] {
				t.Errorf("%s CSV row %d %s = %q, table %q", what, i+1, col, recs[i+1][j], row[col])
			}
		}
	}
}

func svgOK(t *testing.T, body, name string) {
	t.Helper()
	re := regexp.MustCompile(`(?s)<svg[^>]*data-chart="` + name + `".*?</svg>`)
	svg := re.FindString(body)
	if svg == "" {
		t.Fatalf("no svg[data-chart=%s]", name)
	}
	d := xml.NewDecoder(strings.NewReader(svg))
	n := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("svg %s is not well-formed: %v", name, err)
		}
		if _, ok := tok.(xml.StartElement); ok {
			n++
		}
	}
	if n < 5 {
		t.Errorf("svg %s has %d elements", name, n)
	}
}

func byPS(it map[string]string) string    { return it["partnership"] }
func byPSDir(it map[string]string) string { return it["partnership"] + "/" + it["direction"] }

func TestOverviewEqualsAPI(t *testing.T) {
	en := setup(t)
	b := en.signedIn("cm-de")
	for _, compare := range []string{"previous", "year", "none"} {
		q := url.Values{"from": {fromDay}, "to": {toDay}, "compare": {compare}}
		resp, page := b.get("/app/country/DE?" + q.Encode())
		if resp.StatusCode != 200 {
			t.Fatalf("overview: %d %s", resp.StatusCode, page)
		}
		api := url.Values{"country": {"DE"}, "from": {fromDay}, "to": {toDay}}
		if compare != "none" {
			api.Set("compare", compare)
		}
		tb := tables(t, page)
		sameAsAPI(t, "partnerships/"+compare, tb["partnerships"], en.apiItems("cm-de", "/v1/reports/partnerships?"+api.Encode()), byPSDir)
		sameAsAPI(t, "balance/"+compare, tb["balance"], en.apiItems("cm-de", "/v1/reports/balance?"+api.Encode()), byPS)
		// The manager's own scope without ?country= gives the same rows.
		api.Del("country")
		sameAsAPI(t, "partnerships (scope)/"+compare, tb["partnerships"], en.apiItems("cm-de", "/v1/reports/partnerships?"+api.Encode()), byPSDir)
		svgOK(t, page, "trend")
		csv := hrefs(t, page, "data-csv")
		csvEqualsTable(t, b, "partnerships", csv["partnerships"], tb["partnerships"])
		csvEqualsTable(t, b, "balance", csv["balance"], tb["balance"])
		links := hrefs(t, page, "data-partnership")
		if got := links["ps-de-alpha"]; !strings.HasPrefix(got, "/app/partnerships/ps-de-alpha?") || !strings.Contains(got, "from="+fromDay) {
			t.Errorf("partnership link %q", got)
		}
		if _, ok := links["ps-fr-bravo"]; ok || strings.Contains(page, "ps-fr-bravo") {
			t.Error("the DE overview shows the FR partnership")
		}
	}
	// The seeded figures, so the comparison above is not of two empty
	// answers: 3 inbound new users and 1,234.50 of revenue in October,
	// 19 inbound clicks, 1 new user in September.
	_, page := b.get("/app/country/DE?from=" + fromDay + "&to=" + toDay)
	tb := tables(t, page)["partnerships"]
	i := slices.Index(tb.keys, "ps-de-alpha/inbound")
	if i < 0 || tb.rows[i]["new_users"] != "3" || tb.rows[i]["revenue"] != "1234.5" || tb.rows[i]["clicks"] != "19" || tb.rows[i]["new_users_prev"] != "1" {
		t.Fatalf("ps-de-alpha inbound: %v", tb.rows)
	}
	if !strings.Contains(page, `data-kpi="new_users" data-value="3"`) || !strings.Contains(page, `data-kpi="revenue" data-value="1234.5"`) {
		t.Error("headline figures missing")
	}
	// The trend's points are the inbound new users per day: 1 on the 3rd,
	// 4th and 15th.
	if !strings.Contains(page, `data-label="2026-10-03" data-value="1"`) || !strings.Contains(page, `data-label="2026-10-15" data-value="1"`) {
		t.Error("trend points do not match the new users per day")
	}
	// Bad parameters: 400, not a wrong page.
	for _, q := range []string{"from=2026-13-01", "compare=month", "from=2026-10-05&to=2026-10-01"} {
		if resp, _ := b.get("/app/country/DE?" + q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", q, resp.StatusCode)
		}
	}
}

func TestPartnershipPageEqualsAPI(t *testing.T) {
	en := setup(t)
	for _, who := range []string{"cm-de", "partner-a", "admin"} {
		b := en.signedIn(who)
		q := url.Values{"from": {fromDay}, "to": {toDay}, "compare": {"previous"}}
		resp, page := b.get("/app/partnerships/ps-de-alpha?" + q.Encode())
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", who, resp.StatusCode)
		}
		tb := tables(t, page)
		api := url.Values{"partnership": {"ps-de-alpha"}, "from": {fromDay}, "to": {toDay}, "compare": {"previous"}}
		sameAsAPI(t, who+" funnel", tb["funnel"], en.apiItems(who, "/v1/reports/partnerships?"+api.Encode()), func(it map[string]string) string { return it["direction"] })
		if !slices.Equal(tb["funnel"].cols, []string{"direction", "views", "clicks", "signups", "revenue"}) {
			t.Errorf("funnel columns %v", tb["funnel"].cols)
		}
		sameAsAPI(t, who+" balance", tb["balance"], en.apiItems(who, "/v1/reports/balance?"+api.Encode()), byPS)
		for _, by := range pageBreakdowns {
			api.Set("by", by)
			sameAsAPI(t, who+" breakdown "+by, tb["breakdown_"+by], en.apiItems(who, "/v1/reports/breakdown?"+api.Encode()),
				func(it map[string]string) string { return it[by] })
		}
		sameAsAPI(t, who+" links", tb["links"], en.apiItems(who, "/v1/links?partnership=ps-de-alpha"), func(it map[string]string) string { return it["code"] })
		if n := len(tb["links"].keys); n != 2 {
			t.Errorf("%s: %d links", who, n)
		}
		svgOK(t, page, "series")
		svgOK(t, page, "funnel")
		if !strings.Contains(page, `data-copy="`+en.http.URL+`/r/de-in"`) {
			t.Errorf("%s: no copy button with the tracking URL", who)
		}
		// The QR code is the API's PNG.
		r1, png := b.get("/app/links/de-in/qr.png")
		code, want := en.apiBytes(who, "/v1/links/de-in/qr.png")
		if r1.StatusCode != 200 || code != 200 || png != string(want) || !strings.HasPrefix(png, "\x89PNG") {
			t.Errorf("%s: QR %d/%d, equal %v", who, r1.StatusCode, code, png == string(want))
		}
		for name, href := range hrefs(t, page, "data-csv") {
			csvEqualsTable(t, b, name, href, tb[name])
		}
	}
	// The seeded funnel: 40 views, 19 clicks, 3 signups inbound.
	b := en.signedIn("cm-de")
	_, page := b.get("/app/partnerships/ps-de-alpha?from=" + fromDay + "&to=" + toDay)
	f := tables(t, page)["funnel"]
	i := slices.Index(f.keys, "inbound")
	if i < 0 || f.rows[i]["views"] != "40" || f.rows[i]["clicks"] != "19" || f.rows[i]["signups"] != "3" {
		t.Errorf("funnel %v %v", f.keys, f.rows)
	}
}

func TestScope(t *testing.T) {
	en := setup(t)
	q := "?from=" + fromDay + "&to=" + toDay
	for _, c := range []struct {
		who, path string
		code      int
	}{
		{"cm-fr", "/app/partnerships/ps-de-alpha" + q, 404},
		{"cm-fr", "/app/partnerships/ps-de-alpha/links.csv" + q, 404},
		{"cm-fr", "/app/partnerships/ps-de-alpha/funnel.csv" + q, 404},
		{"cm-fr", "/app/country/DE" + q, 404},
		{"cm-fr", "/app/country/DE/partnerships.csv" + q, 404},
		{"cm-fr", "/app/links/de-in/qr.png", 404},
		{"cm-fr", "/app/partnerships/ps-fr-bravo" + q, 200},
		{"cm-fr", "/app/partnerships/nope" + q, 404},
		{"partner-b", "/app/partnerships/ps-de-alpha" + q, 404},
		{"partner-b", "/app/links/de-in/qr.png", 404},
		{"partner-b", "/app/country/FR" + q, 404},
		{"partner-b", "/app/admin", 404},
		{"cm-de", "/app/admin", 404},
		{"finance", "/app/country/DE" + q, 200},
		{"finance", "/app/partner", 404},
		{"service", "/app/statements", 403},
		{"service", "/app/country/DE", 404},
		{"cm-de", "/app/partnerships/ps-de-alpha/nope.csv" + q, 404},
		{"cm-de", "/app/nowhere", 404},
	} {
		b := en.signedIn(c.who)
		if resp, body := b.get(c.path); resp.StatusCode != c.code {
			t.Errorf("%s %s: %d, want %d", c.who, c.path, resp.StatusCode, c.code)
		} else if c.code == 404 && strings.Contains(body, "alpha") && !strings.Contains(c.path, "nope") {
			t.Errorf("%s %s: the 404 page names %q", c.who, c.path, "alpha")
		}
	}
	// A partner sees its own links and results only.
	b := en.signedIn("partner-b")
	_, page := b.get("/app/partner" + q)
	tb := tables(t, page)
	if !slices.Equal(tb["links"].keys, []string{"fr-in"}) {
		t.Errorf("partner-b links %v", tb["links"].keys)
	}
	if !slices.Equal(tb["results"].keys, []string{"ps-fr-bravo/inbound"}) {
		t.Errorf("partner-b results %v", tb["results"].keys)
	}
	sameAsAPI(t, "partner-b results", tb["results"], en.apiItems("partner-b", "/v1/reports/partnerships?from="+fromDay+"&to="+toDay+"&compare=previous"), byPSDir)
	if strings.Contains(page, "alpha") {
		t.Error("partner-b's page names alpha")
	}
}

func TestStatementsPageAndClose(t *testing.T) {
	en := setup(t)
	const period = "2026-10"
	b := en.signedIn("finance")
	resp, page := b.get("/app/statements?period=" + period)
	if resp.StatusCode != 200 || !strings.Contains(page, `data-status="draft"`) || !strings.Contains(page, `<form id="close-period" method="post"`) {
		t.Fatalf("draft: %d %s", resp.StatusCode, page)
	}
	lineKeyOf := func(it map[string]string) string {
		return it["partnership"] + "/" + it["direction"] + "/" + it["currency"] + "/" + it["terms_version"]
	}
	tb := tables(t, page)
	lines := en.apiItems("finance", "/v1/statements?period="+period)
	sameAsAPI(t, "draft", tb["statement"], lines, lineKeyOf)
	if len(lines) != 3 {
		t.Errorf("draft lines %v", lines)
	}
	csvEqualsTable(t, b, "statement", hrefs(t, page, "data-csv")["statement"], tb["statement"])
	for _, f := range []string{"csv", "xlsx"} {
		h := hrefs(t, page, "data-export")[f]
		r, got := b.get(h)
		code, want := en.apiBytes("finance", "/v1/exports/statements?period="+period+"&format="+f)
		if r.StatusCode != 200 || code != 200 || (f == "csv" && got != string(want)) {
			t.Errorf("draft %s export: %d %d equal %v", f, r.StatusCode, code, got == string(want))
		}
	}
	// A country manager reads its lines but cannot close.
	cm := en.signedIn("cm-de")
	_, cmPage := cm.get("/app/statements?period=" + period)
	if strings.Contains(cmPage, "close-period") {
		t.Error("a country manager is offered to close")
	}
	sameAsAPI(t, "cm-de draft", tables(t, cmPage)["statement"], en.apiItems("cm-de", "/v1/statements?period="+period), lineKeyOf)
	if r, _ := cm.do("POST", "/app/statements/close", url.Values{"csrf": {csrfOf(t, cmPage)}, "period": {period}}, nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("cm close: %d", r.StatusCode)
	}
	// The current month (by the clock the server was given) has not
	// ended: refused, stays open.
	current := testenv.Now().UTC().Format("2006-01")
	if r, _ := b.do("POST", "/app/statements/close", url.Values{"csrf": {csrfOf(t, page)}, "period": {current}}, nil); r.StatusCode != http.StatusBadRequest {
		t.Errorf("closing an unfinished month: %d", r.StatusCode)
	}
	// Finance closes October.
	r, _ := b.do("POST", "/app/statements/close", url.Values{"csrf": {csrfOf(t, page)}, "period": {period}}, nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/app/statements?period="+period {
		t.Fatalf("close: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	_, page = b.get("/app/statements?period=" + period)
	if !strings.Contains(page, `data-status="closed"`) || strings.Contains(page, `id="close-period"`) {
		t.Fatalf("after close: %s", page)
	}
	var st struct {
		Status, ID string
	}
	en.apiJSON("finance", "/v1/statements?period="+period, &st)
	if st.Status != "closed" || !strings.Contains(page, st.ID) {
		t.Errorf("API after close: %+v", st)
	}
	sameAsAPI(t, "closed", tables(t, page)["statement"], en.apiItems("finance", "/v1/statements?period="+period), lineKeyOf)
	for _, f := range []string{"csv", "xlsx"} {
		r, got := b.get(hrefs(t, page, "data-export")[f])
		code, want := en.apiBytes("finance", "/v1/exports/statements?period="+period+"&format="+f)
		if r.StatusCode != 200 || code != 200 || !bytes.Equal([]byte(got), want) {
			t.Errorf("closed %s export differs from the API's (%d %d)", f, r.StatusCode, code)
		}
		if !strings.Contains(r.Header.Get("Content-Disposition"), period) {
			t.Errorf("%s export named %q", f, r.Header.Get("Content-Disposition"))
		}
	}
	// Audited as the API audits it; a second close is a conflict.
	var audit struct {
		Items []map[string]any `json:"items"`
	}
	en.apiJSON("admin", "/v1/audit?entity=statement", &audit)
	if len(audit.Items) != 1 || audit.Items[0]["action"] != "close" || audit.Items[0]["actor"] != "finance" ||
		!auditAfterIs(audit.Items[0]["after"], "2026-10") {
		t.Errorf("audit %v", audit.Items)
	}
	if r, _ := b.do("POST", "/app/statements/close", url.Values{"csrf": {csrfOf(t, page)}, "period": {period}}, nil); r.StatusCode != http.StatusConflict {
		t.Errorf("second close: %d", r.StatusCode)
	}
}

// TestStatementsMissingFXRates: finance has October's draft open when a
// credited USD purchase (terms in EUR) lands for a day with no ECB rate.
// The statements page and the close form answer the error naming the
// currency-day (409, not 500) and nothing is closed; once the rate is
// loaded the same close goes through.
func TestStatementsMissingFXRates(t *testing.T) {
	en := setup(t)
	ctx := context.Background()
	const period = "2026-10"
	b := en.signedIn("finance")
	resp, page := b.get("/app/statements?period=" + period)
	if resp.StatusCode != 200 || !strings.Contains(page, `<form id="close-period" method="post"`) {
		t.Fatalf("draft before the USD purchase: %d %s", resp.StatusCode, page)
	}
	csrf := csrfOf(t, page)

	ab, err := en.db.Conn.PrepareBatch(ctx, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "outcome", "partnership", "partner", "country", "direction", "terms_version", "revenue", "currency", "computed_at", "version"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 10, 5, 10, 0, 0, 0, time.UTC)
	if err := ab.Append("usd1", at, "purchase", "ours", "credited", "ps-de-alpha", "alpha", "DE", "inbound", uint32(1),
		decimal.RequireFromString("870.81"), "USD", at, uint64(1)); err != nil {
		t.Fatal(err)
	}
	if err := ab.Send(); err != nil {
		t.Fatal(err)
	}
	const missing = "missing ECB rates: no ECB rate (on the day or up to 7 days before) for USD on 2026-10-05; " +
		"load the rates (xpromo fx load FILE) and try again"

	resp, page = b.get("/app/statements?period=" + period)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(html.UnescapeString(page), missing) {
		t.Errorf("statements page without the USD rate: %d, want 409 showing %q:\n%s", resp.StatusCode, missing, page)
	}
	resp, page = b.get("/app/statements/export?period=" + period + "&format=csv")
	if resp.StatusCode != http.StatusConflict || !strings.Contains(html.UnescapeString(page), missing) {
		t.Errorf("export without the USD rate: %d, want 409 showing %q:\n%s", resp.StatusCode, missing, page)
	}
	resp, page = b.do("POST", "/app/statements/close", url.Values{"csrf": {csrf}, "period": {period}}, nil)
	// The close form's text wraps the error ("close statement 2026-10: ...").
	if resp.StatusCode != http.StatusConflict || !strings.Contains(page, "The period cannot be closed yet: ") ||
		!strings.Contains(html.UnescapeString(page), missing) {
		t.Errorf("close without the USD rate: %d, want 409 showing %q:\n%s", resp.StatusCode, missing, page)
	}
	if strings.Contains(page, "alpha") {
		t.Errorf("the refused close names the partner:\n%s", page)
	}
	var n int
	if err := en.pg.Pool.QueryRow(ctx, "SELECT count(*) FROM statements").Scan(&n); err != nil || n != 0 {
		t.Fatalf("a refused close stored %d statements (%v)", n, err)
	}
	if err := en.pg.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE entity = 'statement'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("a refused close audited %d times (%v)", n, err)
	}

	if _, err := fx.NewStore(en.pg.Pool).Load(ctx, []fx.Rate{{Date: time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC), Currency: "USD",
		PerEUR: decimal.RequireFromString("1.1")}}); err != nil {
		t.Fatal(err)
	}
	resp, page = b.do("POST", "/app/statements/close", url.Values{"csrf": {csrf}, "period": {period}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/app/statements?period="+period {
		t.Fatalf("close with the USD rate loaded: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	if _, page = b.get("/app/statements?period=" + period); !strings.Contains(page, `data-status="closed"`) {
		t.Errorf("after the close: %s", page)
	}
}

func TestPartnerLinks(t *testing.T) {
	en := setup(t)
	a := en.signedIn("partner-a")
	_, page := a.get("/app/partner")
	if !strings.Contains(page, `<form id="new-link"`) {
		t.Fatal("partner-a, allowed to make links, has no form")
	}
	form := url.Values{"csrf": {csrfOf(t, page)}, "partnership": {"ps-de-alpha"}, "direction": {"inbound"},
		"url": {"https://ours.example/de/winter"}, "campaign": {"winter"}, "return": {"/app/partner"}}
	r, _ := a.do("POST", "/app/links", form, nil)
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/app/partner?") {
		t.Fatalf("create: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	_, page = a.get(r.Header.Get("Location"))
	tb := tables(t, page)["links"]
	if len(tb.keys) != 3 {
		t.Fatalf("links after create: %v", tb.keys)
	}
	sameAsAPI(t, "partner-a links", tb, en.apiItems("partner-a", "/v1/links"), func(it map[string]string) string { return it["code"] })
	var created map[string]any
	for i, row := range tb.rows {
		if row["campaign"] == "winter" {
			created = map[string]any{"code": tb.keys[i], "by": row["url"]}
		}
	}
	if created == nil {
		t.Fatal("the new link is not listed")
	}
	var l map[string]any
	if en.apiJSON("admin", "/v1/links/"+created["code"].(string), &l) != 200 || l["created_by"] != "partner-a" {
		t.Errorf("stored link %v", l)
	}
	// A bad URL (not our domain for inbound... or not a URL) is refused with a message.
	form.Set("url", "javascript:alert(1)")
	if r, body := a.do("POST", "/app/links", form, nil); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "not created") {
		t.Errorf("bad url: %d", r.StatusCode)
	}
	// partner-b's terms do not allow it: no form, and a POST is refused.
	b := en.signedIn("partner-b")
	_, page = b.get("/app/partner")
	if strings.Contains(page, `id="new-link"`) {
		t.Error("partner-b gets a link form")
	}
	form.Set("csrf", csrfOf(t, page))
	form.Set("partnership", "ps-fr-bravo")
	form.Set("url", "https://ours.example/fr/x")
	if r, _ := b.do("POST", "/app/links", form, nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("partner-b create: %d", r.StatusCode)
	}
	form.Set("partnership", "ps-de-alpha")
	if r, _ := b.do("POST", "/app/links", form, nil); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("partner-b create on alpha's partnership: %d", r.StatusCode)
	}
	// The partner's statement equals the API's, cut to its lines.
	_, page = a.get("/app/partner?period=2026-10")
	sameAsAPI(t, "partner-a statement", tables(t, page)["statement"], en.apiItems("partner-a", "/v1/statements?period=2026-10"),
		func(it map[string]string) string {
			return it["partnership"] + "/" + it["direction"] + "/" + it["currency"] + "/" + it["terms_version"]
		})
}

func TestAdminPage(t *testing.T) {
	en := setup(t)
	b := en.signedIn("admin")
	_, page := b.get("/app/admin")
	tb := tables(t, page)
	for _, name := range []string{"partners", "partnerships", "terms", "links", "tokens", "audit"} {
		if tb[name] == nil {
			t.Errorf("no %s table", name)
		}
	}
	byID := func(it map[string]string) string { return it["id"] }
	sameAsAPI(t, "partners", tb["partners"], en.apiItems("admin", "/v1/partners"), byID)
	sameAsAPI(t, "partnerships", tb["partnerships"], en.apiItems("admin", "/v1/partnerships"), byID)
	sameAsAPI(t, "tokens", tb["tokens"], en.apiItems("admin", "/v1/tokens"), byID)
	sameAsAPI(t, "terms ps-de-alpha", filterRows(tb["terms"], "ps-de-alpha:"), en.apiItems("admin", "/v1/partnerships/ps-de-alpha/versions"),
		func(it map[string]string) string { return it["partnership"] + ":" + it["version"] })
	for name, href := range hrefs(t, page, "data-csv") {
		csvEqualsTable(t, b, name, href, tb[name])
	}
	// Revoking a token from the page ends that token's sessions.
	victim := en.signedIn("cm-fr")
	r, _ := b.do("POST", "/app/tokens/revoke", url.Values{"csrf": {csrfOf(t, page)}, "id": {en.ids["cm-fr"]}}, nil)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.StatusCode)
	}
	if r, _ := victim.get("/app/country/FR"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("the revoked token's session: %d", r.StatusCode)
	}
	var audit struct {
		Items []map[string]any `json:"items"`
	}
	en.apiJSON("admin", "/v1/audit?entity=token", &audit)
	if len(audit.Items) != 1 || audit.Items[0]["action"] != "revoke" || audit.Items[0]["entity_id"] != en.ids["cm-fr"] {
		t.Errorf("audit %v", audit.Items)
	}
}

func filterRows(tb *pageTable, prefix string) *pageTable {
	out := &pageTable{cols: tb.cols}
	for i, k := range tb.keys {
		if strings.HasPrefix(k, prefix) {
			out.keys = append(out.keys, k)
			out.rows = append(out.rows, tb.rows[i])
			out.text = append(out.text, tb.text[i])
		}
	}
	return out
}

func TestLocale(t *testing.T) {
	en := setup(t)
	q := "/app/country/DE?from=" + fromDay + "&to=" + toDay
	for lang, want := range map[string]string{
		"":                 "€\u00a01,234.50",
		"de-DE,de;q=0.9":   "€\u00a01.234,50",
		"fr-FR":            "€\u00a01\u00a0234,50",
		"xx-invalid,,;q=x": "€\u00a01,234.50",
	} {
		b := en.signedIn("cm-de")
		b.hd["Accept-Language"] = lang
		_, page := b.get(q)
		tb := tables(t, page)["partnerships"]
		i := slices.Index(tb.keys, "ps-de-alpha/inbound")
		if i < 0 {
			t.Fatalf("%q: no row", lang)
		}
		if got := tb.text[i]["revenue"]; got != want || tb.rows[i]["revenue"] != "1234.5" {
			t.Errorf("%q: revenue shown %q (raw %q), want %q", lang, got, tb.rows[i]["revenue"], want)
		}
	}
}

// auditAfterIs: an audit entry's after (a JSON object, as the API serves
// it) is the closed statement of period, with its hash.
func auditAfterIs(after any, period string) bool {
	m, ok := after.(map[string]any)
	return ok && m["period"] == period && m["hash"] != nil && m["hash"] != ""
}
