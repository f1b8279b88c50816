package api

import (
	"context"
	"encoding/json"
	"maps"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/domain/catalog"
)

// crossTable is a report-shaped answer: its rows by their first column.
type crossTable struct {
	Items []map[string]any `json:"items"`
}

func getCross(t *testing.T, le *leakEnv, who, path string) map[string]map[string]any {
	t.Helper()
	code, body := le.do("GET", path, who, "")
	if code != 200 {
		t.Fatalf("GET %s as %s = %d %s", path, who, code, body)
	}
	var tb crossTable
	if err := json.Unmarshal([]byte(body), &tb); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, it := range tb.Items {
		key, _ := it["country"].(string)
		if key == "" {
			key, _ = it["partner"].(string)
		}
		out[key] = it
	}
	return out
}

// TestPartnerAcrossCountries: a FR manager reads a DE partner's rates and
// ranks, not its counts, money or partnership id; a DE manager reads all
// of its own; "what works elsewhere" lists the partners absent from the
// reader's countries.
func TestPartnerAcrossCountries(t *testing.T) {
	le := leakSetup(t)
	day := le.at.Format(time.DateOnly)
	period := "from=" + day + "&to=" + day
	// The fixture: one click and one new user per partnership, two in
	// each country.
	fr := getCross(t, le, "cm-fr", "/v1/partners/dora/countries?"+period)
	de := getCross(t, le, "cm-de", "/v1/partners/dora/countries?"+period)
	for who, rows := range map[string]map[string]map[string]any{"cm-fr": fr, "cm-de": de} {
		r := rows["DE"]
		if r == nil || len(rows) != 1 {
			t.Fatalf("%s: rows %v, want one for DE", who, rows)
		}
		for col, want := range map[string]any{"new_users_per_1k_clicks": 1000.0, "share_of_country_new_users": 0.5, "rank": 1.0, "revenue_rank": 1.0, "clicks_band": "1-99", "status": "active", "direction": "both"} {
			if r[col] != want {
				t.Errorf("%s: %s = %v, want %v", who, col, r[col], want)
			}
		}
	}
	for _, col := range []string{"partnership", "clicks", "new_users_in", "new_users_out", "revenue_in", "revenue_out", "currency"} {
		if v := fr["DE"][col]; v != nil {
			t.Errorf("cm-fr reads DE's %s = %v, want null", col, v)
		}
	}
	if fr["DE"]["own"] != "no" || de["DE"]["own"] != "yes" {
		t.Errorf("own: cm-fr %v, cm-de %v", fr["DE"]["own"], de["DE"]["own"])
	}
	for col, want := range map[string]any{"partnership": "ps-de-dora", "clicks": 1.0, "new_users_in": 1.0, "revenue_in": "1111.11", "currency": "EUR"} {
		if de["DE"][col] != want {
			t.Errorf("cm-de: own %s = %v, want %v", col, de["DE"][col], want)
		}
	}

	// What works elsewhere, for FR: the DE partners, none of FR's.
	ins := getCross(t, le, "cm-fr", "/v1/insights/partners?absent=true&min_clicks=1&"+period)
	if got := slices.Sorted(maps.Keys(ins)); !slices.Equal(got, []string{"dora", "emil"}) {
		t.Fatalf("what works elsewhere for FR: %v, want dora and emil", got)
	}
	if r := ins["dora"]; r["best_country"] != "DE" || r["best_new_users_per_1k_clicks"] != 1000.0 || r["absent_from"] != "FR" || r["countries"] != 1.0 {
		t.Errorf("dora: %v", r)
	}
	// Below min_clicks a country is listed, not ranked: nobody does well.
	if ins := getCross(t, le, "cm-fr", "/v1/insights/partners?absent=true&"+period); len(ins) != 0 {
		t.Errorf("with the default 100 clicks: %v, want none", ins)
	}

	// A playbook note of DE is read by FR next to the results.
	if code, body := le.do("PUT", "/v1/partnerships/ps-de-dora/playbook", "cm-de", `{"note":"Spring banner on the home page,\ntwo weeks."}`); code != 200 {
		t.Fatalf("playbook: %d %s", code, body)
	}
	fr = getCross(t, le, "cm-fr", "/v1/partners/dora/countries?"+period)
	if fr["DE"]["playbook"] != "Spring banner on the home page,\ntwo weeks." || fr["DE"]["playbook_by"] != "tok-cm-de" {
		t.Errorf("cm-fr reads the note as %v by %v", fr["DE"]["playbook"], fr["DE"]["playbook_by"])
	}
	if code, _ := le.do("PUT", "/v1/partnerships/ps-de-dora/playbook", "cm-fr", `{"note":"mine"}`); code != 404 {
		t.Errorf("cm-fr writing DE's note = %d, want 404", code)
	}
	// A stale If-Match is refused; an empty note removes it.
	req := func(etag, note string) int {
		r := httptest.NewRequest("PUT", "/v1/partnerships/ps-de-dora/playbook", strings.NewReader(`{"note":"`+note+`"}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+le.tokens["cm-de"])
		r.Header.Set("If-Match", etag)
		w := httptest.NewRecorder()
		le.e.ServeHTTP(w, r)
		return w.Code
	}
	if code := req(`"7"`, "other"); code != 412 {
		t.Errorf("stale If-Match = %d, want 412", code)
	}
	if code := req(`"1"`, ""); code != 200 {
		t.Errorf("removing the note = %d, want 200", code)
	}
	if fr = getCross(t, le, "cm-fr", "/v1/partners/dora/countries?"+period); fr["DE"]["playbook"] != nil {
		t.Errorf("removed note still read: %v", fr["DE"]["playbook"])
	}
}

// TestReplicate: an admin's replication copies terms and links exactly
// with new codes and records its origin, in one audited transaction that
// the source's manager is told of; a FR manager's replication of a DE
// partnership copies the shape and none of DE's money or links; nobody
// replicates into a country they do not manage.
func TestReplicate(t *testing.T) {
	le := leakSetup(t)
	ctx := context.Background()
	must := func(method, path, who, body string, want int) string {
		t.Helper()
		code, out := le.do(method, path, who, body)
		if code != want {
			t.Fatalf("%s %s as %s = %d, want %d: %s", method, path, who, code, want, out)
		}
		return out
	}
	must("POST", "/v1/links", "admin", `{"code":"lk-de-dora-out","partnership":"ps-de-dora","direction":"outbound","campaign":"spring sale","url":"https://dora.example/de/fruehling?x=1"}`, 201)
	must("POST", "/v1/links", "admin", `{"code":"lk-de-dora-old","partnership":"ps-de-dora","direction":"inbound","url":"https://ours.example/old"}`, 201)
	must("PATCH", "/v1/links/lk-de-dora-old", "admin", `{"status":"archived"}`, 200)

	// Into a country the reader does not manage: 403, nothing written.
	must("POST", "/v1/partners/dora/replicate", "cm-de", `{"source_country":"DE","country":"FR"}`, 403)
	must("POST", "/v1/partners/dora/replicate", "finance", `{"source_country":"DE","country":"FR"}`, 403)
	must("POST", "/v1/partners/dora/replicate", "partner-dora", `{"source_country":"DE","country":"FR"}`, 403)

	body := must("POST", "/v1/partners/dora/replicate", "admin",
		`{"source_country":"DE","country":"AT","url_template":"https://{country}.ours.example/{lang}/{path}","outbound_url_template":"https://dora.example/{country}/{path}","start":"2026-01-01"}`, 201)
	var rep catalog.Replicated
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Partnership.ID != "dora-at" || rep.Partnership.Partner != "dora" || rep.Partnership.Country != "AT" || rep.Partnership.Direction != "both" {
		t.Errorf("partnership %+v", rep.Partnership)
	}
	if rep.Origin != (catalog.Origin{Partner: "dora", Country: "DE", Source: "ps-de-dora"}) {
		t.Errorf("origin %+v", rep.Origin)
	}
	src, err := le.cat.TermsVersions(ctx, "ps-de-dora")
	if err != nil {
		t.Fatal(err)
	}
	want := src[len(src)-1]
	want.Partnership, want.Version = "dora-at", 1
	want.EffectiveFrom = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	want.StartDate, want.CreatedAt, want.CreatedBy = want.EffectiveFrom, rep.Terms.CreatedAt, "tok-admin"
	stored, err := le.cat.TermsVersions(ctx, "dora-at")
	if err != nil || len(stored) != 1 {
		t.Fatalf("stored terms %v %v", stored, err)
	}
	if !sameJSON(t, stored[0], want) || !sameJSON(t, rep.Terms, want) {
		t.Errorf("terms copied as\n%+v\nwant\n%+v", stored[0], want)
	}
	// The archived link stays behind; the others come with new codes and
	// localised URLs.
	gotURLs := map[string]string{}
	for _, l := range rep.Links {
		if strings.HasPrefix(l.Code, "lk-") || !catalog.ValidCode(l.Code) {
			t.Errorf("copied link keeps or lacks a code: %q", l.Code)
		}
		if l.Partnership != "dora-at" || l.Status != "active" {
			t.Errorf("link %+v", l)
		}
		gotURLs[l.Direction+" "+l.Campaign] = l.URL
	}
	wantURLs := map[string]string{
		"inbound ":             "https://at.ours.example/de/lk-de-dora",
		"outbound spring sale": "https://dora.example/at/de/fruehling?x=1",
	}
	if len(gotURLs) != 2 || gotURLs["inbound "] != wantURLs["inbound "] || gotURLs["outbound spring sale"] != wantURLs["outbound spring sale"] {
		t.Errorf("links %v, want %v", gotURLs, wantURLs)
	}
	var source string
	if err := le.pg.QueryRow(ctx, `SELECT source FROM partnership_origins WHERE partnership = 'dora-at'`).Scan(&source); err != nil || source != "ps-de-dora" {
		t.Errorf("origin row: %q %v", source, err)
	}
	// One transaction in the audit: partnership, terms, both links, the
	// replication, and the notice filed in DE, which DE's manager reads.
	var audit struct {
		Items []struct {
			Action, Entity, EntityID, Country string
			Tx                                int64
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(must("GET", "/v1/audit?tx="+itoa(rep.Tx), "admin", "", 200)), &audit); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range audit.Items {
		actions = append(actions, e.Action+" "+e.Entity+" "+e.Country)
		if e.Tx != rep.Tx {
			t.Errorf("entry %+v in tx %d, want %d", e, e.Tx, rep.Tx)
		}
	}
	slices.Sort(actions)
	if w := []string{"create link AT", "create link AT", "create partnership AT", "replicate partnership AT", "replicated partnership DE", "set_terms partnership AT"}; !slices.Equal(actions, w) {
		t.Errorf("the replication's transaction holds %v, want %v", actions, w)
	}
	if !strings.Contains(must("GET", "/v1/audit?entity=partnership&entity_id=ps-de-dora", "cm-de", "", 200), `"into":"AT"`) {
		t.Errorf("DE's manager is not told of the replication")
	}
	// Again into AT: the pair exists.
	must("POST", "/v1/partners/dora/replicate", "admin", `{"source_country":"DE","country":"AT","id":"dora-at-2"}`, 409)

	// The request docs/API.md prints, as it prints it.
	doc, err := os.ReadFile("../../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(string(doc), "### `POST /v1/partners/:id/replicate`")
	_, after, _ = strings.Cut(after, "```json\n")
	example, _, _ := strings.Cut(after, "```")
	var fr catalog.Replicated
	if err := json.Unmarshal([]byte(must("POST", "/v1/partners/dora/replicate", "admin", example, 201)), &fr); err != nil {
		t.Fatal(err)
	}
	frURLs := map[string]string{}
	for _, l := range fr.Links {
		frURLs[l.Direction] = l.URL
	}
	if fr.Partnership.ID != "dora-fr" || fr.Terms.Currency != "EUR" || fr.Terms.InboundCPA.String() != "4" || day(fr.Terms.EffectiveFrom) != "2027-01-01" ||
		frURLs["inbound"] != "https://www.example.com/fr/welcome?utm_campaign=" || frURLs["outbound"] != "https://dora.example/fr/de/fruehling?x=1" {
		t.Errorf("the API.md example made %+v, links %v", fr, frURLs)
	}

	// FR's manager replicates emil from DE without reading DE: the money
	// and the URLs must be FR's own.
	blind := `{"source_country":"DE","country":"FR"}`
	if out := must("POST", "/v1/partners/emil/replicate", "cm-fr", blind, 422); !strings.Contains(out, "terms.currency") {
		t.Errorf("blind without terms: %s", out)
	}
	terms := `"terms":{"currency":"eur","inbound_cpa":"4.5","inbound_revshare_pct":"5","outbound_cpa":"0","outbound_revshare_pct":"0"}`
	if out := must("POST", "/v1/partners/emil/replicate", "cm-fr", `{"source_country":"DE","country":"FR",`+terms+`}`, 422); !strings.Contains(out, "url_template") {
		t.Errorf("blind without a URL template: %s", out)
	}
	must("POST", "/v1/partners/emil/replicate", "cm-fr", `{"source_country":"DE","country":"FR","url_template":"https://ours.example/{path}",`+terms+`}`, 422)
	out := must("POST", "/v1/partners/emil/replicate", "cm-fr", `{"source_country":"DE","country":"FR","url_template":"https://ours.example/{lang}/emil?c={campaign}",`+terms+`}`, 201)
	for _, ps := range leakData {
		if ps.country != "DE" {
			continue
		}
		for _, m := range ps.marks() {
			if m != ps.partner && m != ps.name && strings.Contains(out, m) {
				t.Errorf("a blind replication shows DE's %q: %s", m, out)
			}
		}
	}
	var b catalog.Replicated
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	if b.Terms.Currency != "EUR" || b.Terms.InboundCPA.String() != "4.5" || b.Terms.AttributionWindowDays != want.AttributionWindowDays ||
		b.Origin.Source != "" || len(b.Links) != 1 || b.Links[0].URL != "https://ours.example/fr/emil?c=" {
		t.Errorf("blind replication: %+v", b)
	}
}

func day(t time.Time) string { return t.Format(time.DateOnly) }

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
