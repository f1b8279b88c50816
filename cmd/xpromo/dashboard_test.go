package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/browser"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// dashData is what seedDashboard wrote: partnerships in DE (acme-de both
// ways, beta-de inbound) and FR (gamma-fr), with clicks, signups and
// revenue in the current month and the previous one.
type dashData struct {
	cur, prev time.Time // the first day of the current and previous month, UTC
	// clicks per partnership and direction in the current month
	clicks map[string]uint64
}

// seedDashboard writes the catalog, terms, hits and attributions the
// dashboard test reads. Every figure is small and exact so the test can
// check the API's numbers against it before checking the pages against
// the API.
func seedDashboard(t *testing.T, db *testenv.DB) dashData {
	t.Helper()
	ctx := context.Background()
	seed(t, db) // acme, acme-de (both), links demo (inbound) and out (outbound)
	addCatalog(t, db, catalogSeed{
		partners: []catalog.Partner{
			{ID: "beta", Name: "Beta GmbH", Domains: []string{"beta.example"}},
			{ID: "gamma", Name: "Gamma SA", Domains: []string{"gamma.example"}},
		},
		partnerships: []catalog.Partnership{
			{ID: "beta-de", Partner: "beta", Country: "DE", Direction: vocab.Inbound},
			{ID: "gamma-fr", Partner: "gamma", Country: "FR", Direction: vocab.Inbound},
		},
		links: []catalog.Link{
			{Code: "beta-in", Partnership: "beta-de", Direction: vocab.Inbound, URL: "https://www.example.com/beta", Campaign: "spring"},
			{Code: "gamma-in", Partnership: "gamma-fr", Direction: vocab.Inbound, URL: "https://www.example.com/gamma"},
		},
	})
	cat := catalog.NewStore(pgOf(db).Pool).WithClock(testenv.Clock())
	now := testenv.Now().UTC()
	d := dashData{cur: time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)}
	d.prev = d.cur.AddDate(0, -1, 0)
	since := d.prev.AddDate(0, -1, 0)
	for _, tr := range []struct {
		ps    string
		terms catalog.Terms
	}{
		{"acme-de", catalog.Terms{InboundCPA: decimal.RequireFromString("2.50"), InboundRevSharePct: decimal.NewFromInt(10),
			OutboundCPA: decimal.RequireFromString("1.50"), TargetInboundUsersMonth: 10, TargetOutboundUsersMonth: 1}},
		{"beta-de", catalog.Terms{InboundCPA: decimal.RequireFromString("3.00"), TargetInboundUsersMonth: 1}},
		{"gamma-fr", catalog.Terms{InboundCPA: decimal.RequireFromString("4.00")}},
	} {
		tr.terms.Currency, tr.terms.EffectiveFrom, tr.terms.StartDate = "EUR", since, since
		if _, err := cat.SetTerms(ctx, tr.ps, tr.terms, "test"); err != nil {
			t.Fatalf("terms of %s: %v", tr.ps, err)
		}
	}

	// Hits: clicks (some visitors click twice) and views, at 01:00 on the
	// first of this month (still "this month to today" just after
	// midnight) and on the 10th of the previous month.
	curAt, prevAt := d.cur.Add(time.Hour), d.prev.AddDate(0, 0, 9).Add(12*time.Hour)
	d.clicks = map[string]uint64{"acme-de/inbound": 12, "acme-de/outbound": 5, "beta-de/inbound": 7, "gamma-fr/inbound": 9}
	var hits [][]any
	links := map[string]string{"acme-de/inbound": "demo", "acme-de/outbound": "out", "beta-de/inbound": "beta-in", "gamma-fr/inbound": "gamma-in"}
	addHits := func(at time.Time, ps, partner, dir, cc, kind string, count int) {
		for i := range count {
			hits = append(hits, []any{fmt.Sprintf("h%05d", len(hits)+1), at, kind, links[ps+"/"+dir], ps, partner, dir, fmt.Sprintf("%s-v%d", ps, i%4), uint8(0), cc, at})
		}
	}
	for _, h := range []struct {
		at                         time.Time
		ps, partner, dir, cc, kind string
		n                          int
	}{
		{curAt, "acme-de", "acme", "inbound", "DE", "click", 12},
		{curAt, "acme-de", "acme", "inbound", "DE", "view", 30},
		{curAt, "acme-de", "acme", "outbound", "DE", "click", 5},
		{curAt, "beta-de", "beta", "inbound", "DE", "click", 7},
		{curAt, "beta-de", "beta", "inbound", "DE", "view", 11},
		{curAt, "gamma-fr", "gamma", "inbound", "FR", "click", 9},
		{prevAt, "acme-de", "acme", "inbound", "DE", "click", 6},
		{prevAt, "acme-de", "acme", "outbound", "DE", "click", 2},
		{prevAt, "beta-de", "beta", "inbound", "DE", "click", 4},
		{prevAt, "gamma-fr", "gamma", "inbound", "FR", "click", 3},
	} {
		addHits(h.at, h.ps, h.partner, h.dir, h.cc, h.kind, h.n)
	}
	insertRows(t, db, schema.Hits.InsertOnly("id", "ts", "kind", "link", "partnership", "partner", "direction", "visitor", "is_bot", "country", "ingested_at"), hits...)

	// Attributions: signups (new users) and purchases (credited revenue,
	// EUR, the reporting currency too).
	var attrs [][]any
	for _, a := range []struct {
		at                   time.Time
		ps, partner, cc, dir string
		signups              int
		purchases            []string
	}{
		{curAt, "acme-de", "acme", "DE", "inbound", 3, []string{"40.00", "19.99"}},
		{curAt, "acme-de", "acme", "DE", "outbound", 2, nil},
		{curAt, "beta-de", "beta", "DE", "inbound", 1, []string{"25.50"}},
		{curAt, "gamma-fr", "gamma", "FR", "inbound", 2, []string{"100.00"}},
		{prevAt, "acme-de", "acme", "DE", "inbound", 2, []string{"30.00"}},
		{prevAt, "acme-de", "acme", "DE", "outbound", 1, nil},
		{prevAt, "beta-de", "beta", "DE", "inbound", 1, []string{"12.34"}},
		{prevAt, "gamma-fr", "gamma", "FR", "inbound", 1, []string{"10.00"}},
	} {
		for range a.signups {
			attrs = append(attrs, []any{fmt.Sprintf("c%04d", len(attrs)+1), a.at, "signup", "ours", "new_user", a.ps, a.partner, a.cc, a.dir,
				uint32(1), decimal.Zero, "", decimal.Zero, "", a.at, uint64(1)})
		}
		for _, rev := range a.purchases {
			r := decimal.RequireFromString(rev)
			attrs = append(attrs, []any{fmt.Sprintf("c%04d", len(attrs)+1), a.at, "purchase", "ours", "credited", a.ps, a.partner, a.cc, a.dir,
				uint32(1), r, "EUR", r, "EUR", a.at, uint64(1)})
		}
	}
	insertRows(t, db, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "outcome", "partnership", "partner", "country", "direction", "terms_version", "revenue", "currency", "revenue_rep", "rep_currency", "computed_at", "version"), attrs...)
	return d
}

// apiClient calls /v1 with a token.
type apiClient struct {
	t     *testing.T
	base  string
	token string
}

func (a apiClient) get(path string) []byte {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		a.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// items GETs a list (a report, links) and returns its items with every
// value as the page must show it in data-value: the API's JSON value as
// written (numbers exactly as the API prints them), null as "".
func (a apiClient) items(path string) []map[string]string {
	a.t.Helper()
	var body struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(a.get(path), &body); err != nil {
		a.t.Fatalf("GET %s: %v", path, err)
	}
	return rawItems(body.Items)
}

func (a apiClient) report(name string, q url.Values) []map[string]string {
	a.t.Helper()
	return a.items("/v1/reports/" + name + "?" + q.Encode())
}

func rawItems(items []map[string]json.RawMessage) []map[string]string {
	out := make([]map[string]string, len(items))
	for i, it := range items {
		out[i] = map[string]string{}
		for k, v := range it {
			out[i][k] = rawJSONValue(v)
		}
	}
	return out
}

// rawJSONValue is a JSON value as a data-value: a string's text, a number
// as written, true/false, null as "", an array's values joined by commas.
func rawJSONValue(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0 || string(v) == "null":
		return ""
	case v[0] == '"':
		var s string
		_ = json.Unmarshal(v, &s)
		return s
	case v[0] == '[':
		var list []json.RawMessage
		_ = json.Unmarshal(v, &list)
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = rawJSONValue(x)
		}
		return strings.Join(parts, ",")
	}
	return string(v)
}

// omitEmpty are the fields the API leaves out when empty (omitempty)
// though no item has them; docs/DASHBOARD.md: the page shows them as "".
var omitEmpty = map[string]bool{"campaign": true, "expires_at": true, "revoked_at": true, "revoked_by": true, "end_date": true}

func anyHas(items []map[string]string, field string) bool {
	for _, it := range items {
		if _, ok := it[field]; ok {
			return true
		}
	}
	return false
}

// sameRows checks a page table against API items: the same rows (by
// key), and in each row every cell's data-value equal to the item's field
// of that name. It returns the API items by key.
func sameRows(t *testing.T, what string, tab browser.Table, items []map[string]string, key func(map[string]string) string) map[string]map[string]string {
	t.Helper()
	byKey := map[string]map[string]string{}
	for _, it := range items {
		k := key(it)
		if _, dup := byKey[k]; dup {
			t.Errorf("%s: the API has two rows with key %q: the page's row key cannot tell them apart", what, k)
		}
		byKey[k] = it
	}
	var apiKeys []string
	for k := range byKey {
		apiKeys = append(apiKeys, k)
	}
	slices.Sort(apiKeys)
	if got := tab.Keys(); !slices.Equal(got, apiKeys) {
		t.Errorf("%s: page rows %q, API rows %q", what, got, apiKeys)
	}
	for _, row := range tab.Rows {
		it, ok := byKey[row.Key]
		if !ok {
			continue
		}
		if len(row.Cells) == 0 {
			t.Errorf("%s row %s: no data cells", what, row.Key)
		}
		for _, c := range row.Cells {
			want, ok := it[c.Col]
			if !ok && (omitEmpty[c.Col] || anyHas(items, c.Col)) {
				ok = true // the API leaves the empty field out; the page shows ""
			}
			switch {
			case !ok:
				t.Errorf("%s row %s: column %q is not a field of the API's answer", what, row.Key, c.Col)
			case !c.HasValue:
				t.Errorf("%s row %s column %s: no data-value", what, row.Key, c.Col)
			case c.Value != want:
				t.Errorf("%s row %s column %s: page data-value %q (shown %q), API %q", what, row.Key, c.Col, c.Value, c.Text, want)
			}
		}
	}
	return byKey
}

func byPartnership(it map[string]string) string { return it["partnership"] }

func byPartnershipDirection(it map[string]string) string {
	return it["partnership"] + "/" + it["direction"]
}

// shoot takes screenshots of p at the desktop and the phone width, and
// checks that the page fits each width (only tables scroll sideways).
func shoot(t *testing.T, p *browser.Page, name string) {
	t.Helper()
	for _, size := range []struct {
		name string
		set  func()
	}{{"desktop", p.Desktop}, {"phone", p.Phone}} {
		size.set()
		path := p.Screenshot(name + "-" + size.name)
		if o := p.Overflow(); o.Pixels > 0 {
			t.Errorf("%s at %s width: the page is %d px wider than the screen (see %s); past the edge: %s",
				name, size.name, o.Pixels, path, strings.Join(o.Culprits, "; "))
		}
	}
	p.Desktop()
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%q is not an integer", s)
	}
	return n
}

// seriesSum adds up the data-values of the first series of a chart.
func seriesSum(t *testing.T, p *browser.Page, chart string) int64 {
	t.Helper()
	var sum int64
	vals := browser.Eval[[]string](p, `Array.from(document.querySelector('svg[data-chart=`+chart+`] [data-series]')?.querySelectorAll('[data-value]') ?? [], e => e.getAttribute('data-value'))`)
	if len(vals) == 0 {
		t.Errorf("chart %s has no points in its first series", chart)
	}
	for _, v := range vals {
		sum += mustInt(t, v)
	}
	return sum
}

// pathOf is the path of a URL the page went to, and its query.
func pathOf(t *testing.T, u string) (string, url.Values) {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Path, p.Query()
}

func urlPath(t *testing.T, u string) string {
	t.Helper()
	p, _ := pathOf(t, u)
	return p
}

// TestDashboardInBrowser drives the dashboard in headless Chromium as a
// country manager, finance and another country's manager, and checks that
// every figure on the pages is the API's for the same reader and period.
func TestDashboardInBrowser(t *testing.T) {
	db := newDB(t)
	r := testenv.NewRedis(t)
	data := seedDashboard(t, db)
	ctx := context.Background()
	tokens := auth.NewStore(pgOf(db).Pool).WithClock(testenv.Clock())
	newToken := func(s auth.Spec) string {
		t.Helper()
		s.Name = "dashboard test " + string(s.Role)
		secret, _, err := tokens.Create(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	// Created before serve starts, so its verifier knows them at once.
	deTok := newToken(auth.Spec{Role: access.RoleCountryManager, Countries: []string{"DE"}})
	frTok := newToken(auth.Spec{Role: access.RoleCountryManager, Countries: []string{"FR"}})
	finTok := newToken(auth.Spec{Role: access.RoleFinance})
	s := startServe(t, r.URL, r.Prefix, db)
	deAPI := apiClient{t, s.base, deTok}
	finAPI := apiClient{t, s.base, finTok}

	// The API first: its figures are the seeded ones, so comparing the
	// pages with it compares them with the truth.
	cur := url.Values{"from": {data.cur.Format(time.DateOnly)}, "to": {testenv.Now().UTC().Format(time.DateOnly)}}
	seen := 0
	for _, it := range deAPI.report("partnerships", cur) {
		k := it["partnership"] + "/" + it["direction"]
		if it["country"] != "DE" || it["clicks"] != fmt.Sprint(data.clicks[k]) {
			t.Errorf("API partnerships row %s: country %s, %s clicks, seeded %d", k, it["country"], it["clicks"], data.clicks[k])
		}
		if k == "acme-de/inbound" && (it["new_users"] != "3" || it["revenue"] != "59.99") {
			t.Errorf("API acme-de inbound: %s new users, revenue %s; seeded 3 and 59.99", it["new_users"], it["revenue"])
		}
		seen++
	}
	if seen != 3 {
		t.Errorf("the DE manager's API report has %d rows, want 3 (acme-de both ways, beta-de)", seen)
	}
	b := browser.Start(t, browser.Config{})
	app := s.base + "/app"

	// 1. The DE manager signs in through the form and lands on the
	// country overview.
	de := b.NewPage(t, "de-manager")
	if resp := de.Open(app + "/"); urlPath(t, resp.URL) != "/app/signin" {
		t.Fatalf("/app/ without a session went to %s (%d), want /app/signin", resp.URL, resp.Status)
	}
	de.Screenshot("signin")
	de.Fill("form#signin", map[string]string{"token": deTok})
	resp := de.Submit("form#signin")
	if resp.Status != 200 || urlPath(t, resp.URL) != "/app/country/DE" {
		t.Fatalf("the DE manager's sign-in led to %s (%d), want /app/country/DE", resp.URL, resp.Status)
	}
	if de.Count("form#signout[method=post][action='/app/signout']") != 1 {
		t.Error("the overview has no sign-out form in its header")
	}
	de.WaitVisible("svg[data-chart=trend]")
	shoot(t, de, "overview")

	// 2. The overview's table equals the API's report for the period the
	// page shows.
	period := url.Values{}
	for _, f := range []string{"from", "to", "compare"} {
		if v := de.Value("form#period [name=" + f + "]"); v != "" && v != "none" {
			period.Set(f, v)
		}
	}
	if period.Get("from") == "" || period.Get("to") == "" {
		t.Fatalf("the period form shows from %q to %q", period.Get("from"), period.Get("to"))
	}
	period.Set("country", "DE")
	checkOverview := func(what string, q url.Values) {
		t.Helper()
		ps := de.Table("partnerships")
		sameRows(t, what+" partnerships", ps, deAPI.report("partnerships", q), byPartnershipDirection)
		if len(ps.Rows) != 3 {
			t.Errorf("%s: %d rows in partnerships, want 3 (acme-de both ways, beta-de)", what, len(ps.Rows))
		}
		sameRows(t, what+" balance", de.Table("balance"), deAPI.report("balance", q), byPartnership)
		// The trend's first series is the period's inbound new users per day.
		var want int64
		for _, it := range deAPI.report("partnerships", q) {
			if it["direction"] == "inbound" {
				want += mustInt(t, it["new_users"])
			}
		}
		if got := seriesSum(t, de, "trend"); got != want || want == 0 {
			t.Errorf("%s: the trend's points add up to %d inbound new users, the API's report to %d", what, got, want)
		}
		for _, k := range append(ps.Keys(), de.Table("balance").Keys()...) {
			if strings.HasPrefix(k, "gamma-fr") {
				t.Errorf("%s: the DE manager sees %s, a FR partnership", what, k)
			}
		}
	}
	checkOverview("overview", period)

	// The period controls: the previous month, compared with the one before.
	de.Fill("form#period", map[string]string{
		"from": data.prev.Format(time.DateOnly), "to": data.cur.AddDate(0, 0, -1).Format(time.DateOnly), "compare": "previous"})
	resp = de.Submit("form#period")
	p, q := pathOf(t, resp.URL)
	if p != "/app/country/DE" || q.Get("from") != data.prev.Format(time.DateOnly) || q.Get("compare") != "previous" {
		t.Errorf("the period form sent %s", resp.URL)
	}
	prevPeriod := url.Values{"from": {q.Get("from")}, "to": {q.Get("to")}, "compare": {"previous"}, "country": {"DE"}}
	checkOverview("overview, previous month", prevPeriod)
	de.Screenshot("overview-previous-month")

	// 4. The table's CSV, downloaded through the browser, equals the table.
	dl := de.Download("a[data-csv=partnerships]")
	recs, err := csv.NewReader(bytes.NewReader(dl.Data)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("CSV %s: %v\n%s", dl.Name, err, dl.Data)
	}
	tab := de.Table("partnerships")
	if len(recs)-1 != len(tab.Rows) {
		t.Errorf("CSV %s has %d rows, the table %d", dl.Name, len(recs)-1, len(tab.Rows))
	}
	for i, row := range tab.Rows {
		if i+1 >= len(recs) {
			break
		}
		if cols := row.Cols(); !slices.Equal(recs[0], cols) {
			t.Errorf("CSV header %q, table columns %q", recs[0], cols)
		}
		for j, c := range row.Cells {
			if j < len(recs[i+1]) && recs[i+1][j] != c.Value {
				t.Errorf("CSV row %d column %s = %q, table data-value %q", i+1, c.Col, recs[i+1][j], c.Value)
			}
		}
	}

	// Its XLSX, downloaded the same way, has the CSV's rows and header.
	xl := de.Download("a[data-xlsx=partnerships]")
	xf, err := excelize.OpenReader(bytes.NewReader(xl.Data))
	if err != nil {
		t.Fatalf("XLSX %s does not open: %v", xl.Name, err)
	}
	if xrows, err := xf.GetRows("partnerships"); err != nil || len(xrows) != len(recs) || !slices.Equal(xrows[0], recs[0]) {
		t.Errorf("XLSX %s: %d rows (%v), the CSV %d", xl.Name, len(xrows), err, len(recs))
	}
	xf.Close()
	// The favicon the browser asks every page for is there (no 404s).
	if r, err := http.Get(s.base + "/favicon.ico"); err != nil || r.StatusCode != 200 {
		t.Errorf("/favicon.ico: %v %v", r, err)
	} else {
		r.Body.Close()
	}

	// 3. A partnership page, through its link on the overview.
	resp = de.Click("a[data-partnership=acme-de]")
	p, psq := pathOf(t, resp.URL)
	if p != "/app/partnerships/acme-de" || resp.Status != 200 {
		t.Fatalf("the acme-de link led to %s (%d)", resp.URL, resp.Status)
	}
	de.WaitVisible("svg[data-chart=series]")
	if n := de.Count("svg[data-chart=series] [data-value]"); n == 0 {
		t.Error("the series chart has no points (no [data-value] in the svg)")
	}
	var clicks int64
	for _, it := range deAPI.report("partnerships", url.Values{"partnership": {"acme-de"}, "from": psq["from"], "to": psq["to"]}) {
		clicks += mustInt(t, it["clicks"])
	}
	if got := seriesSum(t, de, "series"); got != clicks || clicks != 8 {
		t.Errorf("the series chart's first line adds up to %d clicks, the API's report to %d (seeded 8)", got, clicks)
	}
	// The link keeps the overview's period.
	for _, f := range []string{"from", "to", "compare"} {
		if psq.Get(f) != prevPeriod.Get(f) {
			t.Errorf("the partnership page's %s is %q, the overview's %q", f, psq.Get(f), prevPeriod.Get(f))
		}
	}
	psQuery := url.Values{"partnership": {"acme-de"}, "from": {psq.Get("from")}, "to": {psq.Get("to")}, "compare": {psq.Get("compare")}}
	funnel := de.Table("funnel")
	sameRows(t, "partnership funnel", funnel, deAPI.report("partnerships", psQuery), func(it map[string]string) string { return it["direction"] })
	if row, _ := funnel.Row("inbound"); len(row.Cells) == 0 {
		t.Error("the funnel has no inbound row")
	} else if c, _ := row.Cell("clicks"); c.Value != "6" {
		t.Errorf("the funnel shows %s inbound clicks in the previous month, seeded 6", c.Value)
	}
	sameRows(t, "partnership balance", de.Table("balance"), deAPI.report("balance", psQuery), byPartnership)
	for _, by := range []string{"link", "campaign", "sub", "device", "referrer"} {
		q := url.Values{"partnership": {"acme-de"}, "by": {by}, "from": psQuery["from"], "to": psQuery["to"]}
		sameRows(t, "partnership breakdown by "+by, de.Table("breakdown_"+by), deAPI.report("breakdown", q),
			func(it map[string]string) string { return it[by] })
	}
	if row, ok := de.Table("breakdown_link").Row("demo"); !ok {
		t.Error("the breakdown by link has no row for demo")
	} else if c, _ := row.Cell("clicks"); c.Value != "6" {
		t.Errorf("the breakdown shows %s clicks on demo in the previous month, seeded 6", c.Value)
	}
	apiLinks := sameRows(t, "partnership links", de.Table("links"), deAPI.items("/v1/links?partnership=acme-de"),
		func(it map[string]string) string { return it["code"] })
	if len(apiLinks) != 2 {
		t.Errorf("the API lists %d links of acme-de, seeded 2", len(apiLinks))
	}
	for code, l := range apiLinks {
		cp, _ := de.Attr(`table[data-table=links] tr[data-key="`+code+`"] button[data-copy]`, "data-copy")
		if cp != l["tracking_url"] || !strings.HasSuffix(cp, "/r/"+code) {
			t.Errorf("link %s: the copy button holds %q, the API's tracking URL is %q", code, cp, l["tracking_url"])
		}
	}
	if n := browser.Eval[int](de, `Array.from(document.querySelectorAll('table[data-table=links] img')).filter(i => i.complete && i.naturalWidth > 0).length`); n != 2 {
		t.Errorf("%d QR images loaded in the links table, want 2", n)
	}
	shoot(t, de, "partnership")

	// 6a. Signing out ends the session.
	de.Submit("form#signout")
	if resp := de.Open(app + "/"); urlPath(t, resp.URL) != "/app/signin" {
		t.Errorf("/app/ after signing out went to %s", resp.URL)
	}

	// 5. Finance reads the previous month's statement, equal to the API's,
	// and closes it.
	fin := b.NewPage(t, "finance")
	fin.Open(app + "/signin")
	fin.Fill("form#signin", map[string]string{"token": finTok})
	if resp := fin.Submit("form#signin"); urlPath(t, resp.URL) != "/app/statements" {
		t.Fatalf("finance's sign-in led to %s, want /app/statements", resp.URL)
	}
	month := data.prev.Format("2006-01")
	fin.Open(app + "/statements?period=" + month)
	checkStatement := func(status string) {
		t.Helper()
		var st struct {
			Status string                       `json:"status"`
			Lines  []map[string]json.RawMessage `json:"lines"`
			Totals []map[string]json.RawMessage `json:"totals"`
		}
		if err := json.Unmarshal(finAPI.get("/v1/statements?period="+month), &st); err != nil {
			t.Fatal(err)
		}
		if st.Status != status {
			t.Errorf("GET /v1/statements?period=%s: status %q, want %q", month, st.Status, status)
		}
		lines := rawItems(st.Lines)
		if len(lines) != 4 {
			t.Errorf("the %s statement has %d lines, want 4 (acme-de both ways, beta-de, gamma-fr)", month, len(lines))
		}
		for _, l := range lines {
			// 2 new users at 2.50 and 10% of 30.00 revenue.
			if l["partnership"] == "acme-de" && l["direction"] == "inbound" && l["we_owe"] != "8.00" {
				t.Errorf("API statement acme-de inbound: we owe %s, want 8.00", l["we_owe"])
			}
		}
		// A statement line is one partnership, direction, currency and
		// terms version.
		sameRows(t, "statement "+status, fin.Table("statement"), lines, func(it map[string]string) string {
			k := strings.Join([]string{it["partnership"], it["direction"], it["currency"], it["terms_version"]}, "/")
			if it["adjusts_period"] != "" {
				k += "/adjusts-" + it["adjusts_period"]
			}
			return k
		})
		sameRows(t, "statement totals "+status, fin.Table("totals"), rawItems(st.Totals), func(it map[string]string) string { return it["currency"] })
		if fin.Count(`[data-status="`+status+`"]`) == 0 {
			t.Errorf("the statement page does not show [data-status=%s]", status)
		}
	}
	checkStatement("draft")
	fin.Screenshot("statement-draft")
	resp = fin.Submit("form#close-period")
	if resp.Status != 200 {
		t.Errorf("closing the period answered %d at %s", resp.Status, resp.URL)
	}
	fin.WaitVisible(`[data-status="closed"]`)
	checkStatement("closed")
	if fin.Count("form#close-period") != 0 {
		t.Error("a closed period still offers to close it")
	}
	for _, format := range []string{"csv", "xlsx"} {
		got := fin.Download("a[data-export=" + format + "]")
		want := finAPI.get("/v1/exports/statements?period=" + month + "&format=" + format)
		if !bytes.Equal(got.Data, want) {
			t.Errorf("the %s export downloaded from the page (%s, %d bytes) differs from the API's (%d bytes)", format, got.Name, len(got.Data), len(want))
		}
	}
	shoot(t, fin, "statement-closed")

	// 6b. A FR manager cannot open a DE partnership.
	fr := b.NewPage(t, "fr-manager")
	fr.Open(app + "/signin")
	fr.Fill("form#signin", map[string]string{"token": frTok})
	if resp := fr.Submit("form#signin"); urlPath(t, resp.URL) != "/app/country/FR" {
		t.Errorf("the FR manager's sign-in led to %s", resp.URL)
	}
	if keys := fr.Table("partnerships").Keys(); !slices.Equal(keys, []string{"gamma-fr/inbound"}) {
		t.Errorf("the FR overview lists %q, want gamma-fr/inbound only", keys)
	}
	if resp := fr.Open(app + "/partnerships/acme-de"); resp.Status != http.StatusNotFound {
		t.Errorf("the FR manager opening acme-de got %d, want 404", resp.Status)
	}
	fr.Screenshot("de-partnership-not-found")
	if resp := fr.Open(app + "/country/DE"); resp.Status != http.StatusNotFound && resp.Status != http.StatusForbidden {
		t.Errorf("the FR manager opening the DE overview got %d", resp.Status)
	}
}
