package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/http/view"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/authtest"
	"github.com/xpromo/xpromo/testkit/testenv"
)

type env struct {
	t      *testing.T
	e      *echo.Echo
	cat    *catalog.Store
	ch     driver.Conn       // ClickHouse: the events
	pg     *pgxpool.Pool     // PostgreSQL: the catalog
	srv    *Server           // tests may set srv.Now
	tokens map[string]string // principal name -> token string
	ids    map[string]string // principal name -> token id
}

// Fixture: partner alpha runs ps-de-alpha in DE, partner bravo runs
// ps-fr-bravo in FR, partner charlie has no partnership.
var partners = map[string]string{
	"alpha":   "Alpha Werbung GmbH",
	"bravo":   "Bravo Publicite SARL",
	"charlie": "Charlie Unlinked Ltd",
}

func termsBody(currency string) string {
	return `{"effective_from":"2026-10-01","currency":"` + currency + `","inbound_cpa":"2.5","inbound_revshare_pct":"10",
"outbound_cpa":"1.25","start_date":"2026-10-01","fallback_url":"https://ours.example/fallback"}`
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db := testenv.ClickHouse(t)
	pg := testenv.Postgres(t)
	cat := catalog.NewStore(pg.Pool).WithClock(testenv.Clock())
	ts := auth.NewStore(pg.Pool).WithClock(testenv.Clock())
	for id, name := range partners {
		if _, err := cat.AddPartner(ctx, catalog.Partner{ID: id, Name: name, Domains: []string{id + ".example"}}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	for _, ps := range []catalog.Partnership{
		{ID: "ps-de-alpha", Partner: "alpha", Country: "DE", Direction: vocab.Both},
		{ID: "ps-fr-bravo", Partner: "bravo", Country: "FR", Direction: vocab.Both},
	} {
		if _, err := cat.AddPartnership(ctx, ps, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := cat.SetTerms(ctx, ps.ID, catalog.Terms{
			EffectiveFrom: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), StartDate: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC),
			Currency: "EUR", InboundCPA: decimal.RequireFromString("1"),
		}, "seed"); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []catalog.Link{
		{Code: "de-in", Partnership: "ps-de-alpha", Direction: vocab.Inbound, URL: "https://ours.example/de"},
		{Code: "fr-in", Partnership: "ps-fr-bravo", Direction: vocab.Inbound, URL: "https://ours.example/fr"},
	} {
		if _, err := cat.AddLink(ctx, l, "test"); err != nil {
			t.Fatal(err)
		}
	}
	en := &env{t: t, cat: cat, ch: db.Conn, pg: pg.Pool}
	en.tokens, en.ids = authtest.Create(ctx, t, ts)
	v := auth.NewVerifier(ts, time.Hour, nil)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	en.e = echo.New()
	srv := New(cat, db.Conn, ts, v, nil)
	srv.Now = testenv.Clock()
	srv.Register(en.e.Group("/v1", auth.Middleware(v)))
	en.srv = srv
	return en
}

func (en *env) do(method, path, who, body string) (int, string) {
	en.t.Helper()
	w := en.serve(method, path, who, body)
	return w.Code, w.Body.String()
}

// serve is do with the whole answer, for its headers and bytes.
func (en *env) serve(method, path, who, body string) *httptest.ResponseRecorder {
	en.t.Helper()
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	if tok, ok := en.tokens[who]; ok {
		r.Header.Set("Authorization", "Bearer "+tok)
	} else if who != "" {
		r.Header.Set("Authorization", "Bearer "+who) // a raw token string
	}
	w := httptest.NewRecorder()
	en.e.ServeHTTP(w, r)
	return w
}

// testHit is a row of hits for insertHits: an inbound, human hit in DE,
// ingested when it happened.
type testHit struct {
	id                                  string
	at                                  time.Time
	kind, partnership, partner, visitor string
}

// insertHits writes hits straight into ClickHouse, for the reports to read.
func (en *env) insertHits(t *testing.T, hits ...testHit) {
	t.Helper()
	b, err := en.ch.PrepareBatch(context.Background(), schema.Hits.InsertOnly("id", "ts", "kind", "partnership", "partner", "direction", "visitor", "is_bot", "country", "ingested_at"))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		if err := b.Append(h.id, h.at, h.kind, h.partnership, h.partner, "inbound", h.visitor, uint8(0), "DE", h.at); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// testAttribution is a row of attributions for insertAttributions: an
// inbound conversion from our side under terms version 1, computed when
// it happened.
type testAttribution struct {
	id, typ, outcome, partnership, partner, country, revenue, currency string
	at                                                                 time.Time
}

// insertAttributions writes attributions straight into ClickHouse, for
// the statements to read.
func (en *env) insertAttributions(t *testing.T, rows ...testAttribution) {
	t.Helper()
	b, err := en.ch.PrepareBatch(context.Background(), schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "outcome", "partnership", "partner", "country", "direction", "terms_version", "revenue", "currency", "computed_at", "version"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := b.Append(r.id, r.at, r.typ, "ours", r.outcome, r.partnership, r.partner, r.country, "inbound", uint32(1),
			decimal.RequireFromString(r.revenue), r.currency, r.at, uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func itemIDs(t *testing.T, body string) ([]string, int) {
	t.Helper()
	var l struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
		Total int `json:"total"`
	}
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if l.Items == nil {
		t.Fatalf("items is null or missing: %s", body)
	}
	var ids []string
	for _, it := range l.Items {
		ids = append(ids, it.ID)
	}
	slices.Sort(ids)
	return ids, l.Total
}

func linkCodes(t *testing.T, body string) []string {
	t.Helper()
	var l List[view.LinkView]
	if err := json.Unmarshal([]byte(body), &l); err != nil || l.Items == nil {
		t.Fatalf("body %s: %v", body, err)
	}
	var codes []string
	for _, it := range l.Items {
		codes = append(codes, it.Code)
	}
	slices.Sort(codes)
	return codes
}

func errCode(t *testing.T, body string) ErrorBody {
	t.Helper()
	var eb ErrorBody
	if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error == "" || eb.Reason == "" {
		t.Fatalf("not an error body: %s (%v)", body, err)
	}
	return eb
}

func TestScoping(t *testing.T) {
	en := setup(t)
	all := []string{"alpha", "bravo", "charlie"}
	allPS := []string{"ps-de-alpha", "ps-fr-bravo"}
	cases := []struct {
		who          string
		partners, ps []string // visible; nil with catalog false: role reads no catalog
		catalog      bool
		admin        bool
		audit        bool
	}{
		{"admin", all, allPS, true, true, true},
		{"finance", all, allPS, true, false, true},
		{"cm-de", []string{"alpha"}, []string{"ps-de-alpha"}, true, false, true},
		{"cm-fr", []string{"bravo"}, []string{"ps-fr-bravo"}, true, false, true},
		{"partner-a", []string{"alpha"}, []string{"ps-de-alpha"}, true, false, false},
		{"partner-b", []string{"bravo"}, []string{"ps-fr-bravo"}, true, false, false},
		{"service", nil, nil, false, false, false},
	}
	linkOf := map[string]string{"ps-de-alpha": "de-in", "ps-fr-bravo": "fr-in"}
	for _, tc := range cases {
		t.Run(tc.who, func(t *testing.T) {
			// Nothing about an invisible partner or partnership may appear.
			var hidden []string
			for _, id := range all {
				if !slices.Contains(tc.partners, id) {
					hidden = append(hidden, id, partners[id])
				}
			}
			var links []string
			for _, id := range allPS {
				if !slices.Contains(tc.ps, id) {
					hidden = append(hidden, id, linkOf[id])
				} else {
					links = append(links, linkOf[id])
				}
			}
			get := func(path string, want int) string {
				t.Helper()
				code, body := en.do("GET", path, tc.who, "")
				if code != want {
					t.Fatalf("GET %s = %d, want %d: %s", path, code, want, body)
				}
				if code != http.StatusOK {
					errCode(t, body)
				}
				for _, h := range hidden {
					if strings.Contains(body, h) {
						t.Errorf("GET %s leaks %q: %s", path, h, body)
					}
				}
				return body
			}
			status := func(visible bool) int {
				switch {
				case !tc.catalog:
					return http.StatusForbidden
				case visible:
					return http.StatusOK
				}
				return http.StatusNotFound
			}
			// narrows checks that every filter q of the list at path answers
			// only what allowed names (ids reads a body's ids).
			narrows := func(path, what string, ids func(body string) []string, allowed []string, qs ...string) {
				t.Helper()
				for _, q := range qs {
					body := get(path+q, status(true))
					if !tc.catalog {
						continue
					}
					for _, id := range ids(body) {
						if !slices.Contains(allowed, id) {
							t.Errorf("%s %s widened to %s", what, q, id)
						}
					}
				}
			}
			items := func(body string) []string { ids, _ := itemIDs(t, body); return ids }

			if body := get("/v1/partners", status(true)); tc.catalog {
				if ids, total := itemIDs(t, body); !slices.Equal(ids, tc.partners) || total != len(ids) {
					t.Errorf("partners = %v (total %d), want %v", ids, total, tc.partners)
				}
			}
			for _, id := range append(all, "nope") {
				body := get("/v1/partners/"+id, status(slices.Contains(tc.partners, id)))
				if slices.Contains(tc.partners, id) && !strings.Contains(body, partners[id]) {
					t.Errorf("partner %s: %s", id, body)
				}
			}
			if body := get("/v1/partnerships", status(true)); tc.catalog {
				if ids, total := itemIDs(t, body); !slices.Equal(ids, tc.ps) || total != len(tc.ps) {
					t.Errorf("partnerships = %v (total %d), want %v", ids, total, tc.ps)
				}
			}
			for _, id := range append(allPS, "nope", "BAD!") {
				vis := slices.Contains(tc.ps, id)
				get("/v1/partnerships/"+id, status(vis))
				body := get("/v1/partnerships/"+id+"/versions", status(vis))
				if vis && !strings.Contains(body, `"version":1`) {
					t.Errorf("versions of %s: %s", id, body)
				}
			}
			// Partner list filters narrow too.
			narrows("/v1/partners", "partners filter", items, tc.partners, "?country=DE", "?country=FR", "?status=active", "?limit=1&offset=1")
			// Filters only narrow.
			narrows("/v1/partnerships", "filter", items, tc.ps, "?country=DE", "?country=FR", "?partner=alpha", "?partner=bravo", "?country=fr&partner=bravo", "?country=DE&partner=bravo")
			// Links: the list, each link, its QR code, and list filters.
			if body := get("/v1/links", status(true)); tc.catalog {
				if codes := linkCodes(t, body); !slices.Equal(codes, links) {
					t.Errorf("links = %v, want %v", codes, links)
				}
			}
			for _, code := range []string{"de-in", "fr-in", "nope", "BAD!"} {
				vis := slices.Contains(links, code)
				get("/v1/links/"+code, status(vis))
				get("/v1/links/"+code+"/qr.png", status(vis))
			}
			narrows("/v1/links", "filter", func(body string) []string { return linkCodes(t, body) }, links,
				"?country=DE", "?country=FR", "?partner=alpha", "?partner=bravo", "?partnership=ps-fr-bravo", "?partnership=ps-de-alpha&country=FR")
			adminOnly := http.StatusForbidden
			if tc.admin {
				adminOnly = http.StatusOK
			}
			auditStatus := http.StatusForbidden
			if tc.audit {
				auditStatus = http.StatusOK
			}
			get("/v1/audit", auditStatus)
			get("/v1/audit?country=DE", auditStatus)
			get("/v1/audit?entity=link", auditStatus)
			body := get("/v1/tokens", adminOnly)
			for name, tok := range en.tokens {
				if strings.Contains(body, tok) || strings.Contains(body, tok[len(auth.Prefix)+auth.IDLen+1:]) {
					t.Errorf("token list shows the secret of %s", name)
				}
			}
			if tc.admin {
				ids, total := itemIDs(t, body)
				if total != len(en.tokens) || len(ids) != total {
					t.Errorf("tokens = %v", ids)
				}
				if strings.Contains(body, "hash") || strings.Contains(body, "secret") {
					t.Errorf("token list mentions a hash or secret: %s", body)
				}
			}
		})
	}
}

func TestFiltersAndPagination(t *testing.T) {
	en := setup(t)
	for _, tc := range []struct {
		who, query string
		want       []string
		total      int
	}{
		{"cm-de", "?country=FR", nil, 0},
		{"cm-de", "?partner=bravo", nil, 0},
		{"cm-de", "?country=DE", []string{"ps-de-alpha"}, 1},
		{"partner-a", "?partner=bravo", nil, 0},
		{"partner-a", "?country=FR", nil, 0},
		{"admin", "?country=FR", []string{"ps-fr-bravo"}, 1},
		{"admin", "?country=fr", []string{"ps-fr-bravo"}, 1},
		{"admin", "?partner=alpha", []string{"ps-de-alpha"}, 1},
		{"admin", "?country=FR&partner=alpha", nil, 0},
		{"admin", "?limit=1", []string{"ps-de-alpha"}, 2},
		{"admin", "?limit=1&offset=1", []string{"ps-fr-bravo"}, 2},
		{"admin", "?offset=5", nil, 2},
		{"admin", "?limit=5000", []string{"ps-de-alpha", "ps-fr-bravo"}, 2},
	} {
		code, body := en.do("GET", "/v1/partnerships"+tc.query, tc.who, "")
		if code != 200 {
			t.Fatalf("%s %s = %d %s", tc.who, tc.query, code, body)
		}
		ids, total := itemIDs(t, body)
		if !slices.Equal(ids, tc.want) || total != tc.total {
			t.Errorf("%s %s = %v total %d, want %v total %d", tc.who, tc.query, ids, total, tc.want, tc.total)
		}
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?offset=-1", "?country=XX", "?country=DEU", "?partner=Bad!"} {
		code, body := en.do("GET", "/v1/partnerships"+q, "admin", "")
		if code != 400 || errCode(t, body).Error != "bad_request" {
			t.Errorf("%s = %d %s, want 400", q, code, body)
		}
	}
	// No token, a wrong token: 401 JSON from the middleware.
	for _, who := range []string{"", "xpt_nope"} {
		if code, body := en.do("GET", "/v1/partners", who, ""); code != 401 || errCode(t, body).Error != "unauthorized" {
			t.Errorf("token %q: %d %s", who, code, body)
		}
	}
}

func TestPutTerms(t *testing.T) {
	en := setup(t)
	put := func(who, id, body string) (int, string) {
		return en.do("PUT", "/v1/partnerships/"+id+"/terms", who, body)
	}
	for _, tc := range []struct {
		who, id string
		want    int
	}{
		{"cm-de", "ps-fr-bravo", 404},
		{"cm-fr", "ps-de-alpha", 404},
		{"cm-de", "nope", 404},
		{"partner-a", "ps-de-alpha", 403},
		{"partner-a", "ps-fr-bravo", 403},
		{"finance", "ps-de-alpha", 403},
		{"service", "ps-de-alpha", 403},
	} {
		code, body := put(tc.who, tc.id, termsBody("EUR"))
		if code != tc.want {
			t.Errorf("%s on %s = %d %s, want %d", tc.who, tc.id, code, body, tc.want)
			continue
		}
		eb := errCode(t, body)
		if strings.Contains(body, "bravo") && tc.who == "cm-de" {
			t.Errorf("404 leaks: %s", body)
		}
		_ = eb
	}

	code, body := put("cm-de", "ps-de-alpha", termsBody("EUR"))
	if code != 201 {
		t.Fatalf("cm-de on DE = %d %s", code, body)
	}
	var got catalog.Terms
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || got.CreatedBy != "cm-de" || got.Partnership != "ps-de-alpha" || !got.InboundCPA.Equal(decimal.RequireFromString("2.5")) ||
		!got.EffectiveFrom.Equal(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("terms = %+v", got)
	}
	// The same terms again write nothing.
	if code, body := put("cm-de", "ps-de-alpha", termsBody("EUR")); code != 200 || !strings.Contains(body, `"version":2`) {
		t.Errorf("repeat = %d %s", code, body)
	}
	if code, body := put("admin", "ps-fr-bravo", termsBody("USD")); code != 201 || !strings.Contains(body, `"created_by":"admin"`) {
		t.Errorf("admin on FR = %d %s", code, body)
	}

	// The audit log has the change, with the actor.
	code, body = en.do("GET", "/v1/audit?entity=partnership&entity_id=ps-de-alpha&limit=10", "admin", "")
	if code != 200 {
		t.Fatalf("audit = %d %s", code, body)
	}
	var audit List[AuditView]
	if err := json.Unmarshal([]byte(body), &audit); err != nil {
		t.Fatal(err)
	}
	if len(audit.Items) != 3 || audit.Items[2].Action != catalog.ActionCreate || audit.Items[0].Actor != "cm-de" || audit.Items[0].Action != catalog.ActionSetTerms ||
		audit.Items[0].Country != "DE" || string(audit.Items[0].Before) == "null" {
		t.Errorf("audit = %+v", audit.Items)
	}
	if code, body := en.do("GET", "/v1/audit?limit=x", "admin", ""); code != 400 {
		t.Errorf("audit bad limit = %d %s", code, body)
	}

	// Versions now list both.
	if code, body := en.do("GET", "/v1/partnerships/ps-de-alpha/versions", "partner-a", ""); code != 200 || !strings.Contains(body, `"total":2`) {
		t.Errorf("versions = %d %s", code, body)
	}

	for _, tc := range []struct {
		name, body string
		status     int
		code       string
		field      string
	}{
		{"bad currency", termsBody("EURO"), 422, "validation", "currency"},
		{"negative cpa", strings.Replace(termsBody("EUR"), `"2.5"`, `"-1"`, 1), 422, "validation", "inbound_cpa"},
		{"bad date", strings.Replace(termsBody("EUR"), `"start_date":"2026-10-01"`, `"start_date":"1.10.2026"`, 1), 422, "validation", "start_date"},
		// Without start_date (or effective_from) the defaults apply: TestTermsDatesDefaultToToday.
		{"end before start", strings.Replace(termsBody("EUR"), `"start_date"`, `"end_date":"2026-01-01","start_date"`, 1), 422, "validation", "end_date"},
		{"unknown field", `{"currency":"EUR","bogus":1}`, 422, "validation", "bogus"},
		{"wrong type", `{"currency":5}`, 422, "validation", "currency"},
		{"malformed", `{"currency":`, 400, "bad_request", ""},
		{"not an object", `[1,2]`, 400, "bad_request", ""},
		{"empty", ``, 400, "bad_request", ""},
		{"too large", `{"fallback_url":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "too_large", ""},
	} {
		code, body := put("cm-de", "ps-de-alpha", tc.body)
		if code != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.status)
			continue
		}
		eb := errCode(t, body)
		if eb.Error != tc.code || eb.Field != tc.field {
			t.Errorf("%s: %+v, want %s field %q", tc.name, eb, tc.code, tc.field)
		}
	}
	// Nothing invalid was stored.
	vs, err := en.cat.TermsVersions(context.Background(), "ps-de-alpha")
	if err != nil || len(vs) != 2 {
		t.Errorf("versions after refusals = %d, %v", len(vs), err)
	}
}

func TestTokens(t *testing.T) {
	en := setup(t)
	for _, who := range []string{"finance", "cm-de", "partner-a", "service"} {
		if code, body := en.do("POST", "/v1/tokens", who, `{"role":"admin","name":"x"}`); code != 403 {
			t.Errorf("%s POST = %d %s", who, code, body)
		}
		if code, body := en.do("DELETE", "/v1/tokens/"+en.ids["admin"], who, ""); code != 403 {
			t.Errorf("%s DELETE = %d %s", who, code, body)
		}
	}
	code, body := en.do("POST", "/v1/tokens", "admin", `{"role":"country_manager","countries":["fr"],"name":"new fr"}`)
	if code != 201 {
		t.Fatalf("create = %d %s", code, body)
	}
	var created struct {
		Token     string   `json:"token"`
		ID        string   `json:"id"`
		Role      string   `json:"role"`
		Countries []string `json:"countries"`
		CreatedBy string   `json:"created_by"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	if id, _, err := auth.Parse(created.Token); err != nil || id != created.ID || created.Role != "country_manager" ||
		!slices.Equal(created.Countries, []string{"FR"}) || created.CreatedBy != "admin" {
		t.Fatalf("created = %+v (%v)", created, err)
	}
	// Usable at once, with its scope.
	code, body = en.do("GET", "/v1/partnerships", created.Token, "")
	if ids, _ := itemIDs(t, body); code != 200 || !slices.Equal(ids, []string{"ps-fr-bravo"}) {
		t.Fatalf("new token: %d %s", code, body)
	}
	// Listed without its secret.
	_, body = en.do("GET", "/v1/tokens", "admin", "")
	if !strings.Contains(body, created.ID) || strings.Contains(body, created.Token[len(auth.Prefix)+auth.IDLen+1:]) {
		t.Errorf("list: %s", body)
	}

	for _, tc := range []struct{ body, field string }{
		{`{"role":"root","name":"x"}`, "role"},
		{`{"role":"country_manager","name":"x"}`, "countries"},
		{`{"role":"partner","partner":"nobody","name":"x"}`, "partner"},
		{`{"role":"admin","name":"x","expires_at":"2000-01-01T00:00:00Z"}`, "expires_at"},
		{`{"role":"admin","secret":"x"}`, "secret"},
	} {
		code, body := en.do("POST", "/v1/tokens", "admin", tc.body)
		if code != 422 || errCode(t, body).Field != tc.field {
			t.Errorf("%s = %d %s, want 422 on %s", tc.body, code, body, tc.field)
		}
	}

	// Revoke: 200, then the token is refused at once; again: still 200.
	for i := range 2 {
		code, body := en.do("DELETE", "/v1/tokens/"+created.ID, "admin", "")
		if code != 200 || !strings.Contains(body, `"revoked_by":"admin"`) {
			t.Fatalf("revoke %d = %d %s", i, code, body)
		}
	}
	if code, body := en.do("GET", "/v1/partnerships", created.Token, ""); code != 401 {
		t.Errorf("revoked token = %d %s", code, body)
	}
	for _, id := range []string{"aaaaaaaaaaaa", "BAD"} {
		if code, body := en.do("DELETE", "/v1/tokens/"+id, "admin", ""); code != 404 || errCode(t, body).Error != "not_found" {
			t.Errorf("revoke %s = %d %s", id, code, body)
		}
	}
}

// TestWriteScoping tries every write endpoint with every role against DE
// data (partner alpha, partnership ps-de-alpha, link de-in): only admin and
// DE's manager may write; FR's manager gets 404 (the object does not exist
// for it) or 422 (a reference to it does not exist); a role that never
// uses an endpoint gets 403 whatever the object.
func TestWriteScoping(t *testing.T) {
	en := setup(t)
	roles := []string{"finance", "cm-de", "cm-fr", "partner-a", "partner-b", "service", "admin"} // admin last: it revokes a token
	type call struct {
		method, path string
		body         func(who string) string
		want         map[string]int
	}
	const (
		c200, c201, c403, c404, c422 = 200, 201, 403, 404, 422
	)
	calls := []call{
		{"POST", "/v1/partners", func(w string) string { return `{"id":"n-` + w + `","name":"New ` + w + `"}` },
			map[string]int{"admin": c201, "finance": c403, "cm-de": c201, "cm-fr": c201, "partner-a": c403, "partner-b": c403, "service": c403}},
		{"PATCH", "/v1/partners/alpha", func(w string) string { return `{"name":"Alpha ` + w + `"}` },
			map[string]int{"admin": c200, "finance": c403, "cm-de": c403 /* shared: not filed under DE */, "cm-fr": c404, "partner-a": c403, "partner-b": c403, "service": c403}},
		{"POST", "/v1/partnerships", func(w string) string {
			// On the partner w made above: alpha already has its DE partnership.
			return `{"id":"ps-` + w + `","partner":"n-` + w + `","country":"DE","direction":"both"}`
		}, map[string]int{"admin": c201, "finance": c403, "cm-de": c201, "cm-fr": c422, "partner-a": c403, "partner-b": c403, "service": c403}},
		{"PATCH", "/v1/partnerships/ps-de-alpha", func(string) string { return `{"direction":"both"}` },
			map[string]int{"admin": c200, "finance": c403, "cm-de": c200, "cm-fr": c404, "partner-a": c403, "partner-b": c403, "service": c403}},
		{"PUT", "/v1/partnerships/ps-de-alpha/terms", func(string) string { return termsBody("EUR") },
			map[string]int{"admin": c200 /* same as cm-de's */, "finance": c403, "cm-de": c201, "cm-fr": c404, "partner-a": c403, "partner-b": c403, "service": c403}},
		{"PATCH", "/v1/partnerships/ps-de-alpha/terms", func(w string) string {
			return `{"effective_from":"2026-10-01","outbound_cpa":"` + fmt.Sprint(len(w)*10+len(strings.Split(w, "-"))) + `"}`
		},
			map[string]int{"admin": c201, "finance": c403, "cm-de": c201, "cm-fr": c404, "partner-a": c403, "partner-b": c403, "service": c403}},
		{"POST", "/v1/links", func(w string) string {
			return `{"code":"l-` + w + `","partnership":"ps-de-alpha","direction":"inbound","url":"https://ours.example/` + w + `"}`
		}, map[string]int{"admin": c201, "finance": c403, "cm-de": c201, "cm-fr": c422, "partner-a": c403, "partner-b": c422, "service": c403}},
		{"PATCH", "/v1/links/de-in", func(w string) string { return `{"campaign":"` + w + `"}` },
			map[string]int{"admin": c200, "finance": c403, "cm-de": c200, "cm-fr": c404, "partner-a": c403, "partner-b": c403, "service": c403}},
		{"POST", "/v1/tokens", func(w string) string { return `{"role":"finance","name":"by-` + w + `"}` },
			map[string]int{"admin": c201, "finance": c403, "cm-de": c403, "cm-fr": c403, "partner-a": c403, "partner-b": c403, "service": c403}},
		{"DELETE", "/v1/tokens/" + en.ids["partner-b"], func(string) string { return "" },
			map[string]int{"admin": c200, "finance": c403, "cm-de": c403, "cm-fr": c403, "partner-a": c403, "partner-b": c403, "service": c403}},
	}
	for _, c := range calls {
		for _, who := range roles {
			code, body := en.do(c.method, c.path, who, c.body(who))
			if code != c.want[who] {
				t.Errorf("%s %s as %s = %d, want %d: %s", c.method, c.path, who, code, c.want[who], body)
			}
			if code >= 400 {
				errCode(t, body)
			}
			if who == "cm-fr" || who == "partner-b" {
				for _, leak := range []string{"Alpha", "alpha.example"} {
					if strings.Contains(body, leak) {
						t.Errorf("%s %s as %s leaks %q: %s", c.method, c.path, who, leak, body)
					}
				}
			}
		}
	}
	// Nothing the refused calls sent was stored.
	snap, err := en.cat.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"finance", "partner-a", "partner-b", "service"} {
		if _, ok := snap.Partners["n-"+who]; ok {
			t.Errorf("partner of %s stored", who)
		}
		if _, ok := snap.Links.Get("l-" + who); ok {
			t.Errorf("link of %s stored", who)
		}
	}
	for _, who := range []string{"cm-fr"} {
		if _, ok := snap.Partnerships["ps-"+who]; ok {
			t.Errorf("partnership of %s stored", who)
		}
		if _, ok := snap.Links.Get("l-" + who); ok {
			t.Errorf("link of %s stored", who)
		}
	}
}
