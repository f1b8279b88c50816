package api

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/attribution"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/lib/metrics"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
	"github.com/xpromo/xpromo/tracker/buffer"
	"github.com/xpromo/xpromo/tracker/conversion"
)

// leakPS is one partnership of the leak fixture and the unique marks of
// its data: nothing of it may reach a reader outside its scope.
type leakPS struct {
	id, partner, name, country, link string
	amount, cpa                      string // purchase amount and inbound CPA
	purchase, signup                 string // conversion ids
	user, order                      string
}

// Two countries, two partners in each; every string and money figure is
// unique to its partnership.
var leakData = []*leakPS{
	{id: "ps-de-dora", partner: "dora", name: "Dora Eins GmbH", country: "DE", link: "lk-de-dora", amount: "1111.11", cpa: "2.17", user: "usr-dora", order: "ord-dora"},
	{id: "ps-de-emil", partner: "emil", name: "Emil Zwei AG", country: "DE", link: "lk-de-emil", amount: "2222.22", cpa: "3.29", user: "usr-emil", order: "ord-emil"},
	{id: "ps-fr-fleur", partner: "fleur", name: "Fleur Un SARL", country: "FR", link: "lk-fr-fleur", amount: "90817.23", cpa: "91.73", user: "usr-fleur", order: "ord-fleur"},
	{id: "ps-fr-gaston", partner: "gaston", name: "Gaston Deux SA", country: "FR", link: "lk-fr-gaston", amount: "80716.32", cpa: "83.19", user: "usr-gaston", order: "ord-gaston"},
}

// idRe matches an id of lib/ids.
var idRe = regexp.MustCompile(`\b[0-9A-HJKMNP-TV-Z]{26}\b`)

// marks are the strings that reveal ps: ids, name, link, user and order,
// the integer part of its revenue and its CPA.
func (ps *leakPS) marks() []string {
	return []string{ps.id, ps.partner, ps.name, ps.link, ps.user, ps.order, ps.purchase, ps.signup,
		strings.Split(ps.amount, ".")[0], ps.cpa}
}

// leakRole is a reader and what it may see.
type leakRole struct {
	name    string
	spec    auth.Spec
	sees    func(ps *leakPS) bool
	country string // a country manager's
	partner string // a partner's
}

var leakRoles = []leakRole{
	{name: "service", spec: auth.Spec{Role: access.RoleService}, sees: func(*leakPS) bool { return false }},
	{name: "partner-fleur", spec: auth.Spec{Role: access.RolePartner, Partner: "fleur"}, sees: func(ps *leakPS) bool { return ps.partner == "fleur" }, partner: "fleur"},
	{name: "partner-dora", spec: auth.Spec{Role: access.RolePartner, Partner: "dora"}, sees: func(ps *leakPS) bool { return ps.partner == "dora" }, partner: "dora"},
	{name: "cm-fr", spec: auth.Spec{Role: access.RoleCountryManager, Countries: []string{"FR"}}, sees: func(ps *leakPS) bool { return ps.country == "FR" }, country: "FR"},
	{name: "cm-de", spec: auth.Spec{Role: access.RoleCountryManager, Countries: []string{"DE"}}, sees: func(ps *leakPS) bool { return ps.country == "DE" }, country: "DE"},
	{name: "finance", spec: auth.Spec{Role: access.RoleFinance}, sees: func(*leakPS) bool { return true }},
	{name: "admin", spec: auth.Spec{Role: access.RoleAdmin}, sees: func(*leakPS) bool { return true }},
}

func leakTerms(ps *leakPS) string {
	return `{"effective_from":"2020-01-01","currency":"EUR","inbound_cpa":"` + ps.cpa + `","inbound_revshare_pct":"10","outbound_cpa":"0.5",` +
		`"start_date":"2020-01-01","fallback_url":"https://ours.example/fallback"}`
}

type leakEnv struct {
	*env
	at     time.Time // when the fixture's events happened
	period string    // their month
	spare  string    // a token id admin may revoke
}

// leakSetup builds the fixture: the catalog through the API (so the audit
// log holds every object), clicks, conversions and their attributions.
func leakSetup(t *testing.T) *leakEnv {
	t.Helper()
	ctx := context.Background()
	db := testenv.ClickHouse(t)
	r := testenv.NewRedis(t)
	pg := testenv.Postgres(t)
	cat := catalog.NewStore(pg.Pool).WithClock(testenv.Clock())
	ts := auth.NewStore(pg.Pool).WithClock(testenv.Clock())
	en := &env{t: t, cat: cat, ch: db.Conn, pg: pg.Pool, tokens: map[string]string{}, ids: map[string]string{}}
	for _, role := range append(leakRoles, leakRole{name: "spare", spec: auth.Spec{Role: access.RoleFinance}}) {
		spec := role.spec
		spec.Name, spec.CreatedBy = "tok-"+role.name, "test"
		tok, rec, err := ts.Create(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		en.tokens[role.name], en.ids[role.name] = tok, rec.ID
	}
	v := auth.NewVerifier(ts, time.Hour, nil)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	buf, err := buffer.Open(ctx, r.Client, buffer.Config{Dir: t.TempDir(), KeyPrefix: r.Prefix, Timeout: time.Second}, testenv.Logger(t), metrics.New(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = buf.Close(context.Background()) })
	srv := New(cat, db.Conn, ts, v, testenv.Logger(t))
	srv.Now = testenv.Clock()
	srv.Conversions = conversion.NewRecorder(r.Client, r.Prefix, buf, nil)
	en.e = echo.New()
	srv.Register(en.e.Group("/v1", auth.Middleware(v)))

	must := func(method, path, body string, want int) {
		t.Helper()
		if code, out := en.do(method, path, "admin", body); code != want {
			t.Fatalf("%s %s = %d %s", method, path, code, out)
		}
	}
	for _, ps := range leakData {
		must("POST", "/v1/partners", `{"id":"`+ps.partner+`","name":"`+ps.name+`","domains":["`+ps.partner+`.example"]}`, 201)
		must("POST", "/v1/partnerships", `{"id":"`+ps.id+`","partner":"`+ps.partner+`","country":"`+ps.country+`","direction":"both"}`, 201)
		must("PUT", "/v1/partnerships/"+ps.id+"/terms", leakTerms(ps), 201)
		must("POST", "/v1/links", `{"code":"`+ps.link+`","partnership":"`+ps.id+`","direction":"inbound","url":"https://ours.example/`+ps.link+`"}`, 201)
	}

	// Events mid last month (a month that can be closed): a click, a
	// signup and a purchase through it.
	now := testenv.Now().UTC()
	at := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, time.UTC).AddDate(0, -1, 14)
	hb, err := db.Conn.PrepareBatch(ctx, schema.Hits.InsertOnly("id", "ts", "kind", "link", "partner", "partnership", "direction", "campaign", "country", "visitor", "is_bot", "ingested_at"))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := db.Conn.PrepareBatch(ctx, schema.Conversions.InsertOnly("id", "ts", "received_at", "type", "source", "user_id", "order_id", "click_id", "visitor", "amount", "currency", "country", "ingested_at"))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := db.Conn.PrepareBatch(ctx, schema.RejectedHits.InsertOnly("id", "ts", "endpoint", "reason", "query", "link", "partner", "partnership", "country", "ingested_at"))
	if err != nil {
		t.Fatal(err)
	}
	for i, ps := range leakData {
		click := ids.New(at)
		ps.signup, ps.purchase = ids.New(at), ids.New(at)
		vis := "vis-" + ps.partner
		for _, kind := range []string{"click", "view"} {
			id := click
			if kind == "view" {
				id = ids.New(at)
			}
			if err := hb.Append(id, at, kind, ps.link, ps.partner, ps.id, "inbound", "camp-"+ps.partner, ps.country, vis, uint8(0), at); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct{ id, typ, order, amount, cur string }{{ps.signup, "signup", "", "0", ""}, {ps.purchase, "purchase", ps.order, ps.amount, "EUR"}} {
			cAt := at.Add(time.Duration(i+1) * time.Minute)
			if err := cb.Append(c.id, cAt, cAt, c.typ, "ours", ps.user, c.order, click, vis, decimal.RequireFromString(c.amount), c.cur, ps.country, cAt); err != nil {
				t.Fatal(err)
			}
		}
		if err := rb.Append(ids.New(at), at, "/p.gif", "bad_amount", "l="+ps.link+"&v=x", ps.link, ps.partner, ps.id, ps.country, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []interface{ Send() error }{hb, cb, rb} {
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	job := attribution.NewJob(db.Conn, cat, fx.NewStore(cat.DB()), nil).WithClock(testenv.Clock())
	sum, err := job.Run(ctx, at.Add(-time.Hour), at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcomes["new_user"] != 4 || sum.Outcomes["credited"] != 4 {
		t.Fatalf("attribution of the fixture: %+v, want 4 new users and 4 credited purchases", sum)
	}
	le := &leakEnv{env: en, at: at, period: at.Format("2006-01"), spare: en.ids["spare"]}
	delete(en.tokens, "spare")
	return le
}

// leakCall is one request of the matrix: the route it exercises, and the
// status each role must get (by a rule over the role).
type leakCall struct {
	route        string // "METHOD /v1/pattern" as registered
	method, path string
	body         string
	write        bool // run once per role (phase 1 only)
	own          bool // a 200 must show each partnership the reader sees
	// crossing: a cross-country read, where a country manager may see
	// other countries' partners (id, name) and country codes, and nothing
	// else of theirs (docs/AUTH.md, "Across countries").
	crossing bool
	want     func(r leakRole) []int
}

func is(codes ...int) []int { return codes }

// readStatus: roles that read the catalog get 200; service 403.
func catalogRead(r leakRole) []int {
	if r.name == "service" {
		return is(403)
	}
	return is(200)
}

// objectRead: the object of ps is 200 to whoever sees ps, 404 to other
// catalog readers, 403 to service.
func objectRead(ps *leakPS) func(leakRole) []int {
	return func(r leakRole) []int {
		switch {
		case r.name == "service":
			return is(403)
		case r.sees(ps):
			return is(200)
		}
		return is(404)
	}
}

func leakCalls(le *leakEnv) []leakCall {
	day := le.at.Format(time.DateOnly)
	var calls []leakCall
	add := func(c leakCall) { calls = append(calls, c) }
	// Lists, with every filter that could widen the scope.
	for _, q := range []string{"", "?country=FR", "?country=DE", "?partner=fleur", "?partner=dora", "?status=active", "?limit=1&offset=2", "?country=FR&partner=dora"} {
		add(leakCall{route: "GET /v1/partners", method: "GET", path: "/v1/partners" + q, want: catalogRead})
		add(leakCall{route: "GET /v1/partnerships", method: "GET", path: "/v1/partnerships" + q, want: catalogRead, own: q == ""})
		add(leakCall{route: "GET /v1/links", method: "GET", path: "/v1/links" + q, want: catalogRead, own: q == ""})
	}
	for _, q := range []string{"?partnership=ps-fr-fleur", "?partnership=ps-de-dora", "?partnership=ps-fr-gaston&country=FR"} {
		add(leakCall{route: "GET /v1/links", method: "GET", path: "/v1/links" + q, want: catalogRead})
	}
	for _, ps := range leakData {
		add(leakCall{route: "GET /v1/partners/:id", method: "GET", path: "/v1/partners/" + ps.partner, want: objectRead(ps)})
		add(leakCall{route: "GET /v1/partnerships/:id", method: "GET", path: "/v1/partnerships/" + ps.id, want: objectRead(ps)})
		add(leakCall{route: "GET /v1/partnerships/:id/versions", method: "GET", path: "/v1/partnerships/" + ps.id + "/versions", want: objectRead(ps)})
		add(leakCall{route: "GET /v1/links/:code", method: "GET", path: "/v1/links/" + ps.link, want: objectRead(ps)})
		add(leakCall{route: "GET /v1/links/:code/qr.png", method: "GET", path: "/v1/links/" + ps.link + "/qr.png", want: objectRead(ps)})
		for _, id := range []string{ps.signup, ps.purchase} {
			add(leakCall{route: "GET /v1/conversions/:id", method: "GET", path: "/v1/conversions/" + id, want: objectRead(ps)})
		}
	}
	// Reports: every registered one, JSON and CSV, with filters pointing
	// at each country, partner and partnership.
	filters := []string{"", "&country=FR", "&country=DE", "&country=FR,DE", "&partner=fleur", "&partner=dora", "&compare=previous&granularity=day", "&include_bots=true"}
	for _, ps := range leakData {
		filters = append(filters, "&partnership="+ps.id)
	}
	for _, name := range reports.Names() {
		for _, format := range []string{"json", "csv"} {
			for _, f := range filters {
				path := "/v1/reports/" + name + "?from=" + day + "&to=" + day + "&format=" + format + f
				want := catalogRead
				if name == "breakdown" {
					ps := leakPS{}
					for _, p := range leakData {
						if strings.HasSuffix(f, "="+p.id) {
							ps = *p
						}
					}
					if ps.id == "" {
						continue // needs one partnership (400, tested below)
					}
					path += "&by=link"
					want = objectRead(&ps)
				}
				own := f == "" && (name == "partnerships" || name == "balance")
				add(leakCall{route: "GET /v1/reports/:name", method: "GET", path: path, want: want, own: own})
			}
		}
	}
	add(leakCall{route: "GET /v1/reports/:name", method: "GET", path: "/v1/reports/breakdown?from=" + day + "&to=" + day + "&by=link",
		want: func(r leakRole) []int { return map[bool][]int{true: is(403), false: is(400)}[r.name == "service"] }})
	// Statements and their exports.
	for _, path := range []string{"/v1/statements?period=" + le.period, "/v1/exports/statements?format=csv&period=" + le.period,
		"/v1/exports/statements?format=xlsx&period=" + le.period, "/v1/exports/statements?format=json&period=" + le.period} {
		route := "GET /v1/statements"
		if strings.HasPrefix(path, "/v1/exports") {
			route = "GET /v1/exports/statements"
		}
		add(leakCall{route: route, method: "GET", path: path, want: catalogRead, own: true})
	}
	finance := func(ok ...int) func(leakRole) []int {
		return func(r leakRole) []int {
			if r.name == "admin" || r.name == "finance" {
				return ok
			}
			return is(403)
		}
	}
	add(leakCall{route: "POST /v1/statements/close", method: "POST", path: "/v1/statements/close?period=" + le.period, write: true, want: finance(201, 409)})
	// Audit: the whole log, filtered by each country and at a foreign object.
	for _, q := range []string{"", "?country=FR", "?country=DE", "?entity=partnership&entity_id=ps-fr-fleur", "?entity=partner&entity_id=dora", "?limit=1000"} {
		add(leakCall{route: "GET /v1/audit", method: "GET", path: "/v1/audit" + q, want: func(r leakRole) []int {
			if r.name == "admin" || r.name == "finance" || r.country != "" {
				return is(200)
			}
			return is(403)
		}})
	}
	admin := func(ok int) func(leakRole) []int {
		return func(r leakRole) []int {
			if r.name == "admin" {
				return is(ok)
			}
			return is(403)
		}
	}
	// Across countries: every reader of insights gets 200; partners and
	// services 403; absent=true without country= is a country manager's.
	insights := func(r leakRole) []int {
		if r.name == "service" || r.partner != "" {
			return is(403)
		}
		return is(200)
	}
	period := "from=" + day + "&to=" + day
	for _, q := range []string{"", "&absent=true&country=FR", "&absent=true&country=DE", "&absent=false", "&format=csv", "&format=xlsx", "&min_clicks=1"} {
		add(leakCall{route: "GET /v1/insights/partners", method: "GET", path: "/v1/insights/partners?" + period + q, want: insights, crossing: true})
	}
	add(leakCall{route: "GET /v1/insights/partners", method: "GET", path: "/v1/insights/partners?absent=true&" + period, crossing: true,
		want: func(r leakRole) []int {
			if r.country != "" {
				return is(200)
			}
			return map[bool][]int{true: is(400), false: is(403)}[r.name == "admin" || r.name == "finance"]
		}})
	for _, ps := range leakData {
		for _, q := range []string{"", "&format=csv", "&format=xlsx"} {
			add(leakCall{route: "GET /v1/partners/:id/countries", method: "GET", path: "/v1/partners/" + ps.partner + "/countries?" + period + q, want: insights, crossing: true})
		}
	}
	add(leakCall{route: "GET /v1/partners/:id/countries", method: "GET", path: "/v1/partners/nobody/countries", crossing: true,
		want: func(r leakRole) []int { return map[bool][]int{true: is(404), false: is(403)}[insights(r)[0] == 200] }})
	add(leakCall{route: "GET /v1/tokens", method: "GET", path: "/v1/tokens", want: admin(200)})
	add(leakCall{route: "POST /v1/tokens", method: "POST", path: "/v1/tokens", body: `{"role":"finance","name":"made-by-leak"}`, write: true, want: admin(201)})
	add(leakCall{route: "DELETE /v1/tokens/:id", method: "DELETE", path: "/v1/tokens/" + le.spare, write: true, want: admin(200)})
	add(leakCall{route: "POST /v1/conversions", method: "POST", path: "/v1/conversions", body: `{"type":"signup","user_id":"leak-new-user"}`, write: true,
		want: func(r leakRole) []int {
			if r.name == "admin" || r.name == "service" {
				return is(200)
			}
			return is(403)
		}})

	// Writes aimed at each partnership: 2xx in scope, 404 (or 422 for a
	// reference) outside it, 403 for a role that never writes there. The
	// bodies restate what is stored, so the fixture's marks stay as they are.
	for i, ps := range leakData {
		// Created objects are numbered, not named after ps: their ids must
		// not carry ps's marks into views where they are the reader's own.
		n := fmt.Sprint(i)
		cm := func(r leakRole) bool { return r.country == ps.country }
		rule := func(admin, own, foreignCM, foreignPartner int) func(leakRole) []int {
			return func(r leakRole) []int {
				switch {
				case r.name == "admin":
					return is(admin)
				case r.country != "" && cm(r):
					return is(own)
				case r.country != "":
					return is(foreignCM)
				case r.partner != "" && r.partner != ps.partner:
					return is(foreignPartner)
				}
				return is(403)
			}
		}
		add(leakCall{route: "PATCH /v1/partners/:id", method: "PATCH", path: "/v1/partners/" + ps.partner, body: `{"domains":["` + ps.partner + `.example"]}`, write: true,
			want: rule(200, 403 /* shared partners are admin's */, 404, 403)})
		add(leakCall{route: "POST /v1/partnerships", method: "POST", path: "/v1/partnerships", write: true,
			body: `{"id":"ps-new-` + n + `-ROLE","partner":"` + ps.partner + `","country":"` + ps.country + `","direction":"both"}`,
			want: rule(409 /* ps.id is the pair's partnership */, 409, 422, 403)})
		add(leakCall{route: "PATCH /v1/partnerships/:id", method: "PATCH", path: "/v1/partnerships/" + ps.id, body: `{"direction":"both"}`, write: true,
			want: rule(200, 200, 404, 403)})
		add(leakCall{route: "PUT /v1/partnerships/:id/terms", method: "PUT", path: "/v1/partnerships/" + ps.id + "/terms", body: leakTerms(ps), write: true,
			want: rule(200, 200, 404, 403)})
		add(leakCall{route: "PATCH /v1/partnerships/:id/terms", method: "PATCH", path: "/v1/partnerships/" + ps.id + "/terms", body: `{"effective_from":"2020-01-01","inbound_cpa":"` + ps.cpa + `"}`, write: true,
			want: func(r leakRole) []int {
				w := rule(200, 200, 404, 403)(r)
				if w[0] == 200 {
					return is(200, 201)
				}
				return w
			}})
		add(leakCall{route: "POST /v1/links", method: "POST", path: "/v1/links", write: true,
			body: `{"code":"lk-new-` + n + `-ROLE","partnership":"` + ps.id + `","direction":"inbound","url":"https://ours.example/new"}`,
			want: rule(201, 201, 422, 422)})
		add(leakCall{route: "PATCH /v1/links/:code", method: "PATCH", path: "/v1/links/" + ps.link, body: `{"campaign":""}`, write: true,
			want: rule(200, 200, 404, 403)})
		add(leakCall{route: "PUT /v1/partnerships/:id/playbook", method: "PUT", path: "/v1/partnerships/" + ps.id + "/playbook", body: `{"note":"what worked ` + n + `"}`, write: true,
			want: rule(200, 200, 404, 403)})
		// Replication into the other country, refused after every check of
		// who may (an unusable URL template): the refusals must not carry
		// the source's terms or links. What a replication copies is
		// TestReplicate's.
		other := map[string]string{"DE": "FR", "FR": "DE"}[ps.country]
		add(leakCall{route: "POST /v1/partners/:id/replicate", method: "POST", path: "/v1/partners/" + ps.partner + "/replicate", write: true,
			body: `{"source_country":"` + ps.country + `","country":"` + other + `","url_template":"ftp://nowhere","terms":{"currency":"EUR"}}`,
			want: func(r leakRole) []int {
				switch {
				case r.name == "admin", r.country == other:
					return is(422)
				}
				return is(403)
			}})
		add(leakCall{route: "POST /v1/partners/:id/replicate", method: "POST", path: "/v1/partners/" + ps.partner + "/replicate", write: true,
			body: `{"source_country":"` + other + `","country":"` + ps.country + `"}`,
			want: func(r leakRole) []int {
				switch {
				case r.name == "admin", r.country == ps.country:
					return is(404) // no partnership of the partner in the other country
				}
				return is(403)
			}})
		add(leakCall{route: "POST /v1/partners", method: "POST", path: "/v1/partners", write: true,
			body: `{"id":"new-` + n + `-ROLE","name":"New partner"}`,
			want: func(r leakRole) []int {
				if r.name == "admin" || r.country != "" {
					return is(201)
				}
				return is(403)
			}})
	}
	return calls
}

// texts returns the text a response carries: the body, the files of an
// XLSX (a zip) unpacked, and every string and number of a JSON body.
func texts(t *testing.T, ctype string, body []byte) []string {
	t.Helper()
	out := []string{string(body)}
	if strings.Contains(ctype, "spreadsheetml") {
		zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatalf("xlsx: %v", err)
		}
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			out = append(out, string(b))
		}
	}
	if strings.Contains(ctype, "json") {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("not JSON: %v: %s", err, body)
		}
		var walk func(any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				for k, e := range x {
					out = append(out, k)
					walk(e)
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			case string:
				out = append(out, x)
			case float64:
				out = append(out, fmt.Sprint(x))
			}
		}
		walk(v)
	}
	return out
}

// TestLeaks tries every /v1 route with every role against data of two
// countries and two partners in each: each answer has the status the API
// documents (200 with the reader's own data, 404 for an object outside its
// scope, 403 for a role that never uses the endpoint) and holds nothing of
// another scope: no id, partner name, link code, user or order id, money
// figure or foreign country code, in the raw bytes, in XLSX files, or in
// any JSON string or number. Statements are read open, then closed. A
// route registered without a row here fails the test.
func TestLeaks(t *testing.T) {
	le := leakSetup(t)
	calls := leakCalls(le)

	// Every registered route has rows.
	covered := map[string]bool{}
	for _, c := range calls {
		covered[c.route] = true
	}
	var missing []string
	for _, r := range le.e.Routes() {
		if !strings.HasPrefix(r.Path, "/v1/") || strings.HasSuffix(r.Path, "/*") || r.Name == MethodNotAllowedRoute {
			continue // the group's own not-found catch-alls, and the 405s (they answer nothing else)
		}
		if !covered[r.Method+" "+r.Path] {
			missing = append(missing, r.Method+" "+r.Path)
		}
		delete(covered, r.Method+" "+r.Path)
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("routes without a leak test row: %v", missing)
	}
	if len(covered) > 0 {
		t.Errorf("rows for routes that are not registered: %v", covered)
	}

	requests := 0
	check := func(phase string, role leakRole, c leakCall) {
		t.Helper()
		path, body := strings.ReplaceAll(c.path, "ROLE", role.name), strings.ReplaceAll(c.body, "ROLE", role.name)
		var req *http.Request
		if body != "" {
			req = httptest.NewRequest(c.method, path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		} else {
			req = httptest.NewRequest(c.method, path, nil)
		}
		req.Header.Set("Authorization", "Bearer "+le.tokens[role.name])
		w := httptest.NewRecorder()
		le.e.ServeHTTP(w, req)
		requests++
		want := c.want(role)
		if !slices.Contains(want, w.Code) {
			t.Errorf("%s: %s %s as %s = %d, want %v: %s", phase, c.method, path, role.name, w.Code, want, clipBody(w.Body.String()))
			return
		}
		ctype := w.Header().Get("Content-Type")
		var foreign []string
		for _, ps := range leakData {
			if !role.sees(ps) {
				marks := ps.marks()
				if c.crossing && role.country != "" {
					// Who runs where crosses; nothing else does.
					marks = slices.DeleteFunc(marks, func(m string) bool { return m == ps.partner || m == ps.name })
				}
				foreign = append(foreign, marks...)
			}
		}
		// What the caller sent and is echoed back (a refused reference,
		// the id of what it created) reveals nothing.
		foreign = slices.DeleteFunc(foreign, func(m string) bool { return strings.Contains(path+" "+body, m) })
		// A country code is a mark only where it names a foreign country.
		for _, cc := range []string{"DE", "FR"} {
			if c.crossing && role.country != "" {
				break
			}
			if role.name == "service" || role.country != "" && role.country != cc || role.partner != "" && !strings.HasPrefix(partnerCountry(role.partner), cc) {
				foreign = append(foreign, `"`+cc+`"`, ","+cc+",", ","+cc+"\n")
			}
		}
		all := texts(t, ctype, w.Body.Bytes())
		if c.own && w.Code == http.StatusOK {
			// The reader's own data is there (and the search finds marks).
			joined := strings.Join(all, "\n")
			for _, ps := range leakData {
				if role.sees(ps) && !strings.Contains(joined, ps.id) {
					t.Errorf("%s: %s %s as %s lacks its own %s: %s", phase, c.method, path, role.name, ps.id, clipBody(w.Body.String()))
				}
			}
		}
		for _, text := range all {
			// Random ids (lib/ids: 16 random base32 characters) hold a mark
			// made of digits, such as an amount's "1111", about once in
			// 80,000 ids: an id that is not itself a foreign mark is not
			// searched.
			text = idRe.ReplaceAllStringFunc(text, func(id string) string {
				if slices.Contains(foreign, id) {
					return id
				}
				return "<id>"
			})
			for _, m := range foreign {
				if strings.Contains(text, m) {
					t.Errorf("%s: %s %s as %s (%d) leaks %q: %s", phase, c.method, path, role.name, w.Code, m, clipBody(w.Body.String()))
					return
				}
			}
		}
	}
	for _, phase := range []string{"open", "closed"} {
		for _, role := range leakRoles {
			for _, c := range calls {
				if c.write && phase == "closed" {
					continue
				}
				check(phase, role, c)
			}
		}
		if phase == "open" {
			if n := countClosed(t, le); n != 1 {
				t.Fatalf("after the first phase %d statements closed, want 1", n)
			}
		}
	}
	t.Logf("%d requests, %d rows, %d roles", requests, len(calls), len(leakRoles))
}

func partnerCountry(partner string) string {
	for _, ps := range leakData {
		if ps.partner == partner {
			return ps.country
		}
	}
	return ""
}

func countClosed(t *testing.T, le *leakEnv) int {
	t.Helper()
	var n int
	if err := le.pg.QueryRow(context.Background(), `SELECT count(*) FROM statements`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func clipBody(s string) string {
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}
