package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/app/admin"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// seedReplication is seed (acme, acme-de both ways, links demo and out)
// with a third link (spring, outbound, a campaign a query must escape),
// a paused one (out) and an archived one (gone), and two versions of
// acme-de's terms: the later one is what a copy starts from.
func seedReplication(t *testing.T, db *testenv.DB) {
	t.Helper()
	seed(t, db)
	addCatalog(t, db, catalogSeed{links: []catalog.Link{
		{Code: "spring", Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://shop.acme.example/deals/summer?ref=x", Campaign: "spring sale&x"},
		{Code: "gone", Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://www.example.com/old"},
	}})
	day := func(n int) string { return testenv.Now().UTC().AddDate(0, 0, n).Format(time.DateOnly) }
	runSteps(t, db, []cliStep{
		{name: "first terms", args: []string{"partnership", "terms", "set", "--partnership", "acme-de", "--effective-from", day(-30),
			"--currency", "EUR", "--inbound-cpa", "2.50", "--inbound-revshare-pct", "10", "--outbound-cpa", "1.50",
			"--attribution-window-days", "14", "--target-inbound-users-month", "20", "--fallback-url", "https://www.example.com/fallback",
			"--partner-may-create-links"}, out: []string{"version 1 stored"}},
		{name: "latest terms", args: []string{"partnership", "terms", "set", "--partnership", "acme-de", "--effective-from", day(-5),
			"--inbound-cpa", "3"}, out: []string{"version 2 stored"}},
		{name: "pause out", args: []string{"link", "pause", "--code", "out"}, out: []string{"link out paused"}},
		{name: "archive gone", args: []string{"link", "archive", "--code", "gone"}, out: []string{"link gone archived"}},
	})
}

// replicate runs partnership replicate args --json and returns what it
// made.
func replicate(t *testing.T, db *testenv.DB, args ...string) admin.ReplicatedView {
	t.Helper()
	return cliJSON[admin.ReplicatedView](t, db, append([]string{"partnership", "replicate"}, args...)...)
}

// TestReplicateCommand: partnership replicate copies the source's latest
// terms and its links that are not archived exactly, with new codes,
// records the origin, and files every audit entry of the change under one
// transaction; terms flags adjust the copy; a country where the partner
// already runs, and every wrong flag, is refused with nothing made.
func TestReplicateCommand(t *testing.T) {
	t.Setenv("USER", "tester")
	db := newDB(t)
	seedReplication(t, db)
	src := cliJSON[[]catalog.Terms](t, db, "partnership", "terms", "versions", "--partnership", "acme-de")
	srcLinks := cliJSON[[]catalog.Link](t, db, "link", "list", "--partnership", "acme-de")
	if len(src) != 2 || len(srcLinks) != 4 {
		t.Fatalf("source: %d terms versions, %d links", len(src), len(srcLinks))
	}

	got := replicate(t, db, "acme", "--from-country", "DE", "--country", "FR")
	today := testenv.Now().UTC().Truncate(24 * time.Hour)
	if want := (catalog.Partnership{ID: "acme-fr", Partner: "acme", Country: "FR", Direction: vocab.Both, Version: 1}); got.Partnership != want {
		t.Errorf("partnership %+v, want %+v", got.Partnership, want)
	}
	if want := (catalog.Origin{Partner: "acme", Country: "DE", Source: "acme-de"}); got.Origin != want {
		t.Errorf("origin %+v, want %+v", got.Origin, want)
	}
	if len(got.Set) != 0 {
		t.Errorf("set %v without a terms flag", got.Set)
	}
	// The terms: the source's latest but for what makes them the copy's
	// first version, from today.
	want := src[1]
	want.Partnership, want.Version, want.EffectiveFrom, want.StartDate, want.Status = "acme-fr", 1, today, today, catalog.StatusActive
	want.CreatedAt, want.CreatedBy = got.Terms.CreatedAt, "cli:tester"
	if a, b := jsonOf(t, got.Terms), jsonOf(t, want); a != b {
		t.Errorf("terms\n got %s\nwant %s", a, b)
	}
	stored := cliJSON[[]catalog.Terms](t, db, "partnership", "terms", "versions", "--partnership", "acme-fr")
	if len(stored) != 1 || !stored[0].InboundCPA.Equal(decimal.NewFromInt(3)) || !stored[0].OutboundCPA.Equal(decimal.RequireFromString("1.5")) || !stored[0].PartnerMayCreateLinks {
		t.Errorf("stored terms of acme-fr: %+v", stored)
	}
	// The links: every one not archived, as it is, under a new code.
	copied := map[string]catalog.Link{} // by campaign, each its own
	for _, l := range srcLinks {
		if l.Status != catalog.StatusArchived {
			copied[l.Campaign] = l
		}
	}
	if len(got.Links) != len(copied) || len(copied) != 3 {
		t.Fatalf("%d links copied, want %d: %+v", len(got.Links), len(copied), got.Links)
	}
	codes := map[string]bool{}
	for i, l := range got.Links {
		s := copied[l.Campaign]
		if l.Partnership != "acme-fr" || l.Partner != "acme" || l.Direction != s.Direction || l.URL != s.URL || l.Campaign != s.Campaign || l.Status != s.Status {
			t.Errorf("link %d: %+v, copy of %+v", i, l.Link, s)
		}
		if codes[l.Code] || slices.ContainsFunc(srcLinks, func(sl catalog.Link) bool { return sl.Code == l.Code }) || l.Code == "" {
			t.Errorf("link %d: code %q is not new", i, l.Code)
		}
		codes[l.Code] = true
		if l.TrackingURL != "http://localhost:8080/r/"+l.Code {
			t.Errorf("link %d: tracking URL %q", i, l.TrackingURL)
		}
		if shown := cliJSON[admin.LinkView](t, db, "link", "show", "--code", l.Code); shown.Partnership != "acme-fr" || shown.URL != s.URL {
			t.Errorf("link show %s: %+v", l.Code, shown)
		}
	}
	// The origin is recorded; the audit entries share the change's tx.
	var source, by string
	if err := pgOf(db).Pool.QueryRow(t.Context(), `SELECT source, created_by FROM partnership_origins WHERE partnership = 'acme-fr'`).Scan(&source, &by); err != nil || source != "acme-de" || by != "cli:tester" {
		t.Errorf("partnership_origins: %q %q %v", source, by, err)
	}
	if got.Tx == 0 {
		t.Fatal("no tx")
	}
	wantAudit := []string{"create partnership acme-fr FR", "set_terms partnership acme-fr FR", "replicate partnership acme-fr FR", "replicated partnership acme-de DE"}
	for _, l := range got.Links {
		wantAudit = append(wantAudit, "create link "+l.Code+" FR")
	}
	var inTx []string
	for _, e := range cliJSON[[]admin.AuditView](t, db, "audit", "list", "--limit", "1000") {
		what := strings.Join([]string{e.Action, e.Entity, e.EntityID, e.Country}, " ")
		if e.Tx == got.Tx {
			inTx = append(inTx, what)
		} else if slices.Contains(wantAudit, what) {
			t.Errorf("audit entry %q in tx %d, not the replication's %d", what, e.Tx, got.Tx)
		}
	}
	slices.Sort(inTx)
	slices.Sort(wantAudit)
	if !slices.Equal(inTx, wantAudit) {
		t.Errorf("audit entries of tx %d:\n%q\nwant\n%q", got.Tx, inTx, wantAudit)
	}
	// audit list --tx, as the replication's output prints it, lists them.
	var listed []string
	for _, e := range cliJSON[[]admin.AuditView](t, db, "audit", "list", "--tx", strconv.FormatInt(got.Tx, 10)) {
		listed = append(listed, strings.Join([]string{e.Action, e.Entity, e.EntityID, e.Country}, " "))
	}
	slices.Sort(listed)
	if !slices.Equal(listed, wantAudit) {
		t.Errorf("audit list --tx %d:\n%q\nwant\n%q", got.Tx, listed, wantAudit)
	}

	// Terms flags adjust the copy; the text output says what was made.
	start := today.AddDate(0, 0, -3).Format(time.DateOnly)
	code, out, errOut := cliRun(t, db, "partnership", "replicate", "--partner", "acme", "--from-country", "de", "--country", "nl",
		"--id", "acme-benelux", "--start", start, "--currency", "usd", "--inbound-cpa", "4", "--partner-may-create-links=false")
	if code != 0 {
		t.Fatalf("replicate to NL: exit %d\n%s", code, errOut)
	}
	for _, w := range []string{
		"partnership acme-benelux added (partner acme, NL, both), replicated from acme-de (DE)",
		"terms version 1 stored, effective from " + start + " (active); adjusted: currency, inbound_cpa, partner_may_create_links",
		"USD", "3 links copied with new codes:", "CODE", "TRACKING URL", "http://localhost:8080/r/", "audit tx ",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("replicate to NL: stdout lacks %q:\n%s", w, out)
		}
	}
	nl := cliJSON[[]catalog.Terms](t, db, "partnership", "terms", "versions", "--partnership", "acme-benelux")
	if len(nl) != 1 || nl[0].Currency != "USD" || !nl[0].InboundCPA.Equal(decimal.NewFromInt(4)) || !nl[0].OutboundCPA.Equal(decimal.RequireFromString("1.5")) ||
		nl[0].PartnerMayCreateLinks || nl[0].EffectiveFrom.Format(time.DateOnly) != start || nl[0].AttributionWindowDays != 14 {
		t.Errorf("terms of acme-benelux: %+v", nl)
	}

	partnerships := func() uint64 { return pgCount(t, db, `SELECT count(*) FROM partnerships`) }
	before := partnerships()
	runSteps(t, db, []cliStep{
		{name: "where it runs already", args: []string{"partnership", "replicate", "acme", "--from-country", "DE", "--country", "FR"}, code: 1,
			errText: []string{`xpromo partnership replicate: partner "acme" already has partnership "acme-fr" in FR`}},
		{name: "where it runs already, another id", args: []string{"partnership", "replicate", "acme", "--from-country", "DE", "--country", "NL", "--id", "acme-nl2"}, code: 1,
			errText: []string{`already has partnership "acme-benelux" in NL`}},
		{name: "into its own country", args: []string{"partnership", "replicate", "acme", "--from-country", "DE", "--country", "DE"}, code: 1,
			errText: []string{`--country: partnership "acme-de" already runs in DE`}},
		{name: "no partnership there", args: []string{"partnership", "replicate", "acme", "--from-country", "IT", "--country", "ES"}, code: 1,
			errText: []string{`partnership of partner "acme" in IT: not found`}},
		{name: "unknown partner", args: []string{"partnership", "replicate", "nope", "--from-country", "DE", "--country", "ES"}, code: 1,
			errText: []string{`partnership of partner "nope" in DE: not found`}},
		{name: "bad source country", args: []string{"partnership", "replicate", "acme", "--from-country", "Deutschland", "--country", "ES"}, code: 1,
			errText: []string{"--from-country: "}},
		{name: "bad country", args: []string{"partnership", "replicate", "acme", "--from-country", "DE", "--country", "XX"}, code: 1,
			errText: []string{"--country: "}},
		{name: "bad amount", args: []string{"partnership", "replicate", "acme", "--from-country", "DE", "--country", "ES", "--inbound-cpa", "lots"}, code: 1,
			errText: []string{"--inbound-cpa: "}},
		{name: "bad id", args: []string{"partnership", "replicate", "acme", "--from-country", "DE", "--country", "ES", "--id", "BAD"}, code: 1,
			errText: []string{"--id: "}},
		{name: "bad lang", args: []string{"partnership", "replicate", "acme", "--from-country", "DE", "--country", "ES", "--lang", "Spanish!"}, code: 1,
			errText: []string{"--lang: "}},
		{name: "bad template", args: []string{"partnership", "replicate", "acme", "--from-country", "DE", "--country", "ES", "--url-template", "https://x.example/{region}"}, code: 1,
			errText: []string{"--url-template: unknown placeholder"}},
		{name: "bad start", args: []string{"partnership", "replicate", "acme", "--from-country", "DE", "--country", "ES", "--start", "soon"}, code: 1,
			errText: []string{"--start: "}},
		{name: "no country", args: []string{"partnership", "replicate", "acme", "--from-country", "DE"}, code: 2,
			errText: []string{"--country is required", "Usage: xpromo partnership replicate PARTNER"}},
		{name: "no partner", args: []string{"partnership", "replicate", "--from-country", "DE", "--country", "ES"}, code: 2,
			errText: []string{"PARTNER is required (or --partner)"}},
		{name: "two partners", args: []string{"partnership", "replicate", "acme", "--partner", "beta", "--from-country", "DE", "--country", "ES"}, code: 2,
			errText: []string{`PARTNER "acme" and --partner "beta": give one`}},
		{name: "two arguments", args: []string{"partnership", "replicate", "acme", "beta", "--from-country", "DE", "--country", "ES"}, code: 2,
			errText: []string{"want one PARTNER, got 2 arguments"}},
	})
	if n := partnerships(); n != before {
		t.Errorf("%d partnerships after the refused replications, %d before", n, before)
	}
}

// TestReplicateURLTemplate: --url-template localises every copied inbound
// link's URL and --outbound-url-template every outbound one's ({country},
// {COUNTRY}, {lang}, {campaign} escaped, {path} with the query and
// fragment, {click_id} kept); without one a direction keeps the source's
// URLs; an outbound URL off the partner's domains refuses the whole
// replication.
func TestReplicateURLTemplate(t *testing.T) {
	db := newDB(t)
	seedReplication(t, db)
	urls := func(r admin.ReplicatedView) map[string]string {
		out := map[string]string{}
		for _, l := range r.Links {
			out[l.Campaign] = l.URL
		}
		return out
	}
	be := replicate(t, db, "acme", "--from-country", "DE", "--country", "BE", "--lang", "nl",
		"--url-template", "https://www.example.com/{country}/{lang}/{path}",
		"--outbound-url-template", "https://shop.acme.example/{COUNTRY}/{path}")
	if got, want := urls(be), map[string]string{
		"c1":            "https://www.example.com/be/nl/welcome?utm_source=acme#start",
		"":              "https://shop.acme.example/BE/offer",
		"spring sale&x": "https://shop.acme.example/BE/deals/summer?ref=x",
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("BE: %v, want %v", got, want)
	}
	ch := replicate(t, db, "acme", "--from-country", "DE", "--country", "CH",
		"--outbound-url-template", "https://shop.acme.example/landing?c={campaign}&l={lang}&click={click_id}")
	if got, want := urls(ch), map[string]string{
		"c1":            "https://www.example.com/welcome?utm_source=acme#start", // no inbound template: the source's
		"":              "https://shop.acme.example/landing?c=&l=de&click={click_id}",
		"spring sale&x": "https://shop.acme.example/landing?c=spring+sale%26x&l=de&click={click_id}",
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("CH (default lang): %v, want %v", got, want)
	}
	runSteps(t, db, []cliStep{
		{name: "outbound off the partner's domains", args: []string{"partnership", "replicate", "acme", "--from-country", "DE", "--country", "AT",
			"--outbound-url-template", "https://www.example.com/{lang}/{path}"}, code: 1, errText: []string{`link of campaign ""`, "acme.example"}},
		{name: "bad outbound template", args: []string{"partnership", "replicate", "acme", "--from-country", "DE", "--country", "AT",
			"--outbound-url-template", "ftp://shop.acme.example/{path}"}, code: 1, errText: []string{"--outbound-url-template: must start with https://"}},
		{name: "nothing made", args: []string{"partnership", "list", "--country", "AT"}, notOut: []string{"acme-at"}},
	})
}

// TestPlaybookCommand: partnership playbook sets, keeps, changes and
// removes a partnership's note, each change in the audit log.
func TestPlaybookCommand(t *testing.T) {
	t.Setenv("USER", "tester")
	db := newDB(t)
	seed(t, db)
	runSteps(t, db, []cliStep{
		{name: "set", args: []string{"partnership", "playbook", "acme-de", "--note", "Newsletter slot on Mondays\nworked best"}, out: []string{"partnership acme-de playbook note set (version 1, by cli:tester at "}},
		{name: "same again", args: []string{"partnership", "playbook", "acme-de", "--note", "Newsletter slot on Mondays\nworked best"}, out: []string{"partnership acme-de playbook note unchanged (version 1)"}},
		{name: "change, by flag", args: []string{"partnership", "playbook", "--partnership", "acme-de", "--note", "Mondays and Thursdays"}, out: []string{"playbook note set (version 2"}},
		{name: "too long", args: []string{"partnership", "playbook", "acme-de", "--note", strings.Repeat("x", catalog.MaxPlaybookNote+1)}, code: 1, errText: []string{"--note: at most 2000 characters"}},
		{name: "unknown", args: []string{"partnership", "playbook", "nope", "--note", "x"}, code: 1, errText: []string{`xpromo partnership playbook: partnership "nope": not found`}},
		{name: "no note", args: []string{"partnership", "playbook", "acme-de"}, code: 2, errText: []string{"--note is required (--note '' removes the note)"}},
		{name: "no partnership", args: []string{"partnership", "playbook", "--note", "x"}, code: 2, errText: []string{"PARTNERSHIP is required (or --partnership)"}},
	})
	var note string
	if err := pgOf(db).Pool.QueryRow(t.Context(), `SELECT note FROM playbooks WHERE partnership = 'acme-de'`).Scan(&note); err != nil || note != "Mondays and Thursdays" {
		t.Errorf("stored note %q %v", note, err)
	}
	runSteps(t, db, []cliStep{
		{name: "remove", args: []string{"partnership", "playbook", "acme-de", "--note", ""}, out: []string{"partnership acme-de playbook note removed"}},
		{name: "remove again", args: []string{"partnership", "playbook", "acme-de", "--note="}, out: []string{"partnership acme-de has no playbook note"}},
	})
	if n := pgCount(t, db, `SELECT count(*) FROM playbooks`); n != 0 {
		t.Errorf("%d playbooks after the removal", n)
	}
	var actions []string
	for _, e := range cliJSON[[]admin.AuditView](t, db, "audit", "list", "--entity", catalog.EntityPlaybook) {
		if e.EntityID != "acme-de" || e.Country != "DE" || e.Actor != "cli:tester" {
			t.Errorf("audit entry %+v", e)
		}
		actions = append(actions, e.Action)
	}
	if want := []string{"remove", "set", "set"}; !slices.Equal(actions, want) {
		t.Errorf("audit actions newest first %v, want %v", actions, want)
	}
}

// insightsItems runs an insights subcommand with --format json and
// returns its rows by their first column's value.
func insightsItems(t *testing.T, db *testenv.DB, key string, args ...string) (map[string]map[string]any, []string) {
	t.Helper()
	code, out, errOut := cliRun(t, db, append(args, "--format", "json")...)
	if code != 0 {
		t.Fatalf("xpromo %v: exit %d\n%s", args, code, errOut)
	}
	var v struct {
		Items []map[string]any `json:"items"`
		Notes []string         `json:"notes"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("xpromo %v: %v\n%s", args, err, out)
	}
	rows := map[string]map[string]any{}
	var order []string
	for _, it := range v.Items {
		k := fmt.Sprint(it[key])
		rows[k] = it
		order = append(order, k)
	}
	return rows, order
}

// TestInsightsCommands: insights partners and insights countries print
// the figures of a small fixture, attributed by `xpromo attribute`: acme
// in DE (10 clicks, 4 new users) and in FR (a replication: 5 clicks, 1
// new user who buys for 50 EUR), beta in DE (4 clicks, 2 new users).
func TestInsightsCommands(t *testing.T) {
	t.Setenv("USER", "tester")
	db := newDB(t)
	seed(t, db)
	addCatalog(t, db, catalogSeed{
		partners:     []catalog.Partner{{ID: "beta", Name: "Beta GmbH", Domains: []string{"beta.example"}}},
		partnerships: []catalog.Partnership{{ID: "beta-de", Partner: "beta", Country: "DE", Direction: vocab.Inbound}},
		links:        []catalog.Link{{Code: "bdemo", Partnership: "beta-de", Direction: vocab.Inbound, URL: "https://www.example.com/beta"}},
	})
	now := testenv.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	at := today.AddDate(0, 0, -10).Add(12 * time.Hour)
	since := today.AddDate(0, 0, -60).Format(time.DateOnly)
	runSteps(t, db, []cliStep{
		{name: "acme-de terms", args: []string{"partnership", "terms", "set", "--partnership", "acme-de", "--effective-from", since, "--currency", "EUR", "--inbound-cpa", "2", "--inbound-revshare-pct", "10", "--outbound-cpa", "1"}},
		{name: "beta-de terms", args: []string{"partnership", "terms", "set", "--partnership", "beta-de", "--effective-from", since, "--currency", "EUR", "--inbound-cpa", "3"}},
	})
	fr := replicate(t, db, "acme", "--from-country", "DE", "--country", "FR", "--start", since)
	frIn := ""
	for _, l := range fr.Links {
		if l.Direction == vocab.Inbound {
			frIn = l.Code
		}
	}
	links := map[string]struct{ ps, partner, cc string }{
		"demo": {"acme-de", "acme", "DE"}, frIn: {"acme-fr", "acme", "FR"}, "bdemo": {"beta-de", "beta", "DE"},
	}
	var hits, convs [][]any
	n := 0
	for _, f := range []struct {
		link             string
		clicks, newUsers int
		purchase         string
	}{{"demo", 10, 4, ""}, {frIn, 5, 1, "50.00"}, {"bdemo", 4, 2, ""}} {
		l := links[f.link]
		for i := range f.clicks {
			n++
			ts := at.Add(time.Duration(n) * time.Second)
			click, visitor := ids.New(ts), fmt.Sprintf("%s-v%d", f.link, i)
			hits = append(hits, []any{click, ts, "click", f.link, l.partner, l.ps, "inbound", "", l.cc, visitor, uint8(0), ts})
			if i >= f.newUsers {
				continue
			}
			cts := ts.Add(time.Hour)
			user := fmt.Sprintf("u-%s-%d", f.link, i)
			convs = append(convs, []any{ids.New(cts), cts, cts, "signup", vocab.SourceOurs, user, "", click, visitor, decimal.Zero, "", l.cc, cts})
			if f.purchase != "" {
				cts = cts.Add(time.Hour)
				convs = append(convs, []any{ids.New(cts), cts, cts, "purchase", vocab.SourceOurs, user, "o-" + user, click, visitor, decimal.RequireFromString(f.purchase), "EUR", l.cc, cts})
			}
		}
	}
	insertRows(t, db, schema.Hits.InsertOnly("id", "ts", "kind", "link", "partner", "partnership", "direction", "campaign", "country", "visitor", "is_bot", "ingested_at"), hits...)
	insertRows(t, db, schema.Conversions.InsertOnly("id", "ts", "received_at", "type", "source", "user_id", "order_id", "click_id", "visitor", "amount", "currency", "country", "ingested_at"), convs...)
	runSteps(t, db, []cliStep{
		{name: "attribute", args: []string{"attribute", "--from", at.AddDate(0, 0, -1).Format(time.DateOnly), "--to", at.AddDate(0, 0, 1).Format(time.DateOnly)}},
		{name: "playbook", args: []string{"partnership", "playbook", "acme-de", "--note", "Mondays' newsletter"}},
	})

	// insights partners, over the default period (the 90 days before today).
	rows, order := insightsItems(t, db, "partner", "insights", "partners", "--min-clicks", "1")
	if !slices.Equal(order, []string{"beta", "acme"}) {
		t.Fatalf("partners in order %v, want beta (500 per 1k) then acme (400)", order)
	}
	for k, want := range map[string]map[string]any{
		"acme": {"name": "ACME", "countries": 2.0, "country_list": "DE FR", "best_country": "DE", "best_new_users_per_1k_clicks": 400.0,
			"median_new_users_per_1k_clicks": 300.0, "best_share_of_country_new_users": 1.0, "trend": nil, "absent_from": nil, "playbooks": 1.0},
		"beta": {"name": "Beta GmbH", "countries": 1.0, "country_list": "DE", "best_country": "DE", "best_new_users_per_1k_clicks": 500.0,
			"median_new_users_per_1k_clicks": 500.0, "best_share_of_country_new_users": 2.0 / 6, "playbooks": 0.0},
	} {
		for col, w := range want {
			if g := rows[k][col]; !reflect.DeepEqual(g, w) {
				t.Errorf("insights partners %s %s = %#v, want %#v", k, col, g, w)
			}
		}
	}
	// The default --min-clicks (100) ranks no country of this fixture.
	if rows, _ := insightsItems(t, db, "partner", "insights", "partners"); rows["acme"]["best_country"] != nil || rows["acme"]["countries"] != 2.0 {
		t.Errorf("default --min-clicks: %v", rows["acme"])
	}
	// What works elsewhere: partners absent from FR that do well somewhere.
	rows, order = insightsItems(t, db, "partner", "insights", "partners", "--min-clicks", "1", "--absent-from", "fr")
	if !slices.Equal(order, []string{"beta"}) || rows["beta"]["absent_from"] != "FR" {
		t.Errorf("--absent-from fr: %v %v", order, rows)
	}
	// A period without the fixture's days.
	old := today.AddDate(0, 0, -200).Format(time.DateOnly)
	if rows, _ := insightsItems(t, db, "partner", "insights", "partners", "--min-clicks", "1", "--from", old, "--to", old); rows["acme"]["best_country"] != nil {
		t.Errorf("an empty period: %v", rows["acme"])
	}

	// insights countries: acme's countries ranked, with every figure.
	rows, order = insightsItems(t, db, "country", "insights", "countries", "acme", "--from", at.Format(time.DateOnly), "--to", at.Format(time.DateOnly))
	if !slices.Equal(order, []string{"DE", "FR"}) {
		t.Fatalf("countries in order %v", order)
	}
	for k, want := range map[string]map[string]any{
		"DE": {"own": "yes", "partnership": "acme-de", "status": "active", "since": since, "replicated_from": nil, "clicks": 10.0, "clicks_band": "1-99",
			"new_users_in": 4.0, "new_users_out": 0.0, "new_users_per_1k_clicks": 400.0, "share_of_country_new_users": 4.0 / 6, "rank": 1.0,
			"revenue_rank": nil, "playbook": "Mondays' newsletter", "playbook_by": "cli:tester", "playbook_at": today.Format(time.DateOnly)},
		"FR": {"own": "yes", "partnership": "acme-fr", "replicated_from": "DE", "clicks": 5.0, "new_users_in": 1.0, "new_users_per_1k_clicks": 200.0,
			"share_of_country_new_users": 1.0, "rank": 2.0, "revenue_rank": 1.0, "revenue_in": "50", "currency": "EUR", "playbook": nil},
	} {
		for col, w := range want {
			if g := rows[k][col]; !reflect.DeepEqual(g, w) {
				t.Errorf("insights countries acme %s %s = %#v, want %#v", k, col, g, w)
			}
		}
	}
	for _, format := range []string{"table", "csv"} {
		code, out, errOut := cliRun(t, db, "insights", "countries", "--partner", "acme", "--format", format)
		if code != 0 || !strings.Contains(out, "acme-fr") || !strings.Contains(out, "Mondays' newsletter") {
			t.Errorf("--format %s: exit %d\n%s%s", format, code, out, errOut)
		}
	}
	runSteps(t, db, []cliStep{
		{name: "unknown partner", args: []string{"insights", "countries", "nope"}, code: 1, errText: []string{`xpromo insights countries: partner "nope": not found`}},
		{name: "no partner", args: []string{"insights", "countries"}, code: 2, errText: []string{"PARTNER is required (or --partner)", "Usage: xpromo insights countries PARTNER"}},
		{name: "bad from", args: []string{"insights", "partners", "--from", "May"}, code: 2, errText: []string{`xpromo insights partners: --from "May": want YYYY-MM-DD`}},
		{name: "to before from", args: []string{"insights", "countries", "acme", "--from", "2026-02-02", "--to", "2026-02-01"}, code: 2, errText: []string{"is before from"}},
		{name: "bad format", args: []string{"insights", "partners", "--format", "pdf"}, code: 2, errText: []string{`--format "pdf": want table, csv, json or xlsx`}},
		{name: "bad country", args: []string{"insights", "partners", "--absent-from", "FR,Atlantis"}, code: 2, errText: []string{"--absent-from: "}},
		{name: "no clicks", args: []string{"insights", "partners", "--min-clicks", "0"}, code: 2, errText: []string{"--min-clicks 0: want 1 or more"}},
	})
}

// TestInsightsAndReplicateHelp: every new command has its help, with its
// flags, on stderr, exit 0.
func TestInsightsAndReplicateHelp(t *testing.T) {
	for _, c := range []struct {
		path []string
		want []string
	}{
		{[]string{"insights"}, []string{"partners", "countries"}},
		{[]string{"insights", "partners"}, []string{"--from", "--to", "--absent-from", "--min-clicks", "--format", "XPROMO_CLICKHOUSE_URL", "XPROMO_POSTGRES_URL"}},
		{[]string{"insights", "countries"}, []string{"PARTNER", "--partner", "--from", "--to", "--format"}},
		{[]string{"partnership"}, []string{"replicate", "playbook"}},
		{[]string{"partnership", "replicate"}, []string{"PARTNER", "--from-country", "--country", "--id", "--url-template", "--outbound-url-template", "--lang", "--start",
			"--currency", "--inbound-cpa", "--outbound-revshare-pct", "--fallback-url", "--partner-may-create-links", "--json", "XPROMO_PUBLIC_URL", "{campaign}", "{path}"}},
		{[]string{"partnership", "playbook"}, []string{"PARTNERSHIP", "--note", "--partnership"}},
	} {
		for _, h := range []string{"--help", "-h"} {
			args := append(slices.Clone(c.path), h)
			code, out, errOut := cliRun(t, nil, args...)
			if want := "Usage: xpromo " + strings.Join(c.path, " ") + " "; code != 0 || out != "" || !strings.HasPrefix(errOut, want) {
				t.Errorf("xpromo %v: exit %d, stdout %q, stderr %q; want %q first", args, code, out, errOut, want)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("xpromo %v does not mention %s", args, w)
				}
			}
		}
	}
}

// TestReplicateTermsFlagsNameTermsFields: the names replicate's Set
// reports (a terms flag's name with '_' for '-') are the JSON names of
// catalog.Terms' fields, which a blind replication checks against.
func TestReplicateTermsFlagsNameTermsFields(t *testing.T) {
	tags := map[string]bool{}
	rt := reflect.TypeFor[catalog.Terms]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		tags[name] = true
	}
	for _, tf := range append(slices.Clone(admin.TermsFields), admin.TermsField{Name: "partner-may-create-links"}) {
		if n := strings.ReplaceAll(tf.Name, "-", "_"); !tags[n] {
			t.Errorf("terms flag --%s names %q, no field of catalog.Terms", tf.Name, n)
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
