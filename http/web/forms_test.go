package web

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/xpromo/xpromo/testkit/testenv"
)

// apiCall sends a JSON request to the API as who (a fixture name or a raw
// token) and returns the status and the decoded answer.
func (en *env) apiCall(who, method, path string, body any) (int, map[string]any) {
	en.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	r, _ := http.NewRequest(method, en.http.URL+path, rd)
	tok := who
	if t, ok := en.tokens[who]; ok {
		tok = t
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		en.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	d := json.NewDecoder(resp.Body)
	d.UseNumber()
	_ = d.Decode(&out)
	return resp.StatusCode, out
}

// csrf is the browser's session CSRF secret, read from a page.
func (b *browser) csrf() string {
	b.en.t.Helper()
	_, page := b.get("/app/account")
	return csrfOf(b.en.t, page)
}

// post sends form (with the session's CSRF secret) to path.
func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.en.t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	f.Set("csrf", b.csrf())
	return b.do("POST", path, f, nil)
}

// posted checks a form's success: 303 to a page whose notice contains want.
func (b *browser) posted(what string, resp *http.Response, want string) {
	b.en.t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		b.en.t.Fatalf("%s: %d, want 303", what, resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	r, page := b.get(loc)
	if r.StatusCode != 200 {
		b.en.t.Fatalf("%s: redirected to %s: %d", what, loc, r.StatusCode)
	}
	if !strings.Contains(page, `class="notice"`) || !strings.Contains(html.UnescapeString(page), want) {
		b.en.t.Errorf("%s: the page after the redirect (%s) has no notice %q", what, loc, want)
	}
}

// auditOf is the audit log of one object, oldest first.
func (en *env) auditOf(entity, id string) []map[string]string {
	en.t.Helper()
	items := en.apiItems("admin", "/v1/audit?"+url.Values{"entity": {entity}, "entity_id": {id}}.Encode())
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
	return items
}

// twin compares what the form made (ids web...) with what the API call
// made (ids api...): the objects, and their audit entries, with the ids
// swapped (web -> api) and times dropped. Any other difference fails.
type twin struct {
	t       *testing.T
	en      *env
	renames [][2]string // web id -> api id
}

func (tw *twin) norm(s string) string {
	for _, r := range tw.renames {
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	return s
}

// normJSON drops times and token ids (they differ by construction) from a
// JSON object, after renaming.
func (tw *twin) normJSON(s string) string {
	if s == "" {
		return ""
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(tw.norm(s)), &m); err != nil {
		tw.t.Fatalf("audit JSON %q: %v", s, err)
	}
	for _, k := range []string{"created_at", "ts"} {
		delete(m, k)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func (tw *twin) sameObject(what string, web, api map[string]any, drop ...string) {
	tw.t.Helper()
	w, a := map[string]any{}, map[string]any{}
	for k, v := range web {
		w[k] = v
	}
	for k, v := range api {
		a[k] = v
	}
	for _, k := range append(drop, "created_at") {
		delete(w, k)
		delete(a, k)
	}
	wb, _ := json.Marshal(w)
	ab, _ := json.Marshal(a)
	if tw.norm(string(wb)) != string(ab) {
		tw.t.Errorf("%s: the form made\n%s\nthe API\n%s", what, tw.norm(string(wb)), ab)
	}
}

func (tw *twin) sameAudit(entity, webID, apiID string) {
	tw.t.Helper()
	we, ae := tw.en.auditOf(entity, webID), tw.en.auditOf(entity, apiID)
	if len(we) == 0 || len(we) != len(ae) {
		tw.t.Fatalf("audit of %s %s: %d entries, of %s: %d", entity, webID, len(we), apiID, len(ae))
	}
	for i := range we {
		for _, f := range []string{"actor", "action", "entity", "country"} {
			if we[i][f] != ae[i][f] {
				tw.t.Errorf("audit %s %s #%d: %s %q, the API's %q", entity, webID, i, f, we[i][f], ae[i][f])
			}
		}
		for _, f := range []string{"before", "after"} {
			if w, a := tw.normJSON(we[i][f]), tw.normJSON(ae[i][f]); w != a {
				tw.t.Errorf("audit %s %s #%d %s:\nform %s\nAPI  %s", entity, webID, i, f, w, a)
			}
		}
	}
}

func (en *env) object(path string) map[string]any {
	en.t.Helper()
	code, m := en.apiCall("admin", "GET", path, nil)
	if code != 200 {
		en.t.Fatalf("GET %s: %d", path, code)
	}
	return m
}

// formErrRe finds a refused form's message and the field it names.
var formErrRe = regexp.MustCompile(`data-form-error="([^"]+)" data-field="([^"]+)"`)

// refused checks a refusal: the status, the message naming field, and
// the field marked (aria-invalid) in the form shown again, unless it is a
// hidden field (a button's status).
func refused(t *testing.T, what string, resp *http.Response, body string, code int, form, field string) {
	t.Helper()
	if resp.StatusCode != code {
		t.Errorf("%s: %d, want %d", what, resp.StatusCode, code)
		return
	}
	m := formErrRe.FindStringSubmatch(body)
	if m == nil || m[1] != form || m[2] != field {
		t.Errorf("%s: no refusal of form %s naming %s (got %v)", what, form, field, m)
		return
	}
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	marked, hidden := false, false
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode || (n.Data != "input" && n.Data != "select") {
			return
		}
		if name, _ := attr(n, "name"); name != field {
			return
		}
		if v, _ := attr(n, "aria-invalid"); v == "true" {
			marked = true
		}
		if v, _ := attr(n, "type"); v == "hidden" {
			hidden = true
		}
	})
	if !marked && !hidden {
		t.Errorf("%s: field %s is not marked in the form shown again", what, field)
	}
}

// TestAdminFormsEqualAPI: each admin form makes the same objects and
// audit entries as the API call with the same input; the token's secret
// is shown once and nowhere else.
func TestAdminFormsEqualAPI(t *testing.T) {
	var logs bytes.Buffer
	en := setup(t, func(c *Config) { c.Log = slog.New(slog.NewTextHandler(&logs, nil)) })
	b := en.signedIn("admin")
	_, page := b.get("/app/admin")
	for _, id := range []string{"new-partner", "new-partnership", "new-token"} {
		if !strings.Contains(page, `<form id="`+id+`"`) {
			t.Errorf("admin page: no form#%s", id)
		}
	}
	tw := &twin{t: t, en: en}

	// Partner.
	tw.renames = [][2]string{{"ch-web", "ch-api"}}
	r, _ := b.post("/app/partners", url.Values{"id": {"ch-web"}, "name": {"Charlie AG"}, "domains": {"charlie.example, www.charlie.example"}, "return": {"/app/admin"}})
	b.posted("create partner", r, "Partner ch-web created.")
	if code, _ := en.apiCall("admin", "POST", "/v1/partners", map[string]any{"id": "ch-api", "name": "Charlie AG",
		"domains": []string{"charlie.example", "www.charlie.example"}}); code != 201 {
		t.Fatalf("API create partner: %d", code)
	}
	tw.sameObject("partner", en.object("/v1/partners/ch-web"), en.object("/v1/partners/ch-api"))
	tw.sameAudit("partner", "ch-web", "ch-api")

	// Partnership (on the partner just made), from the admin page.
	tw.renames = append(tw.renames, [2]string{"ps-web", "ps-api"})
	r, _ = b.post("/app/partnerships", url.Values{"form": {"new-partnership"}, "id": {"ps-web"}, "partner": {"ch-web"},
		"country": {"de"}, "direction": {"inbound"}, "return": {"/app/admin"}})
	b.posted("create partnership", r, "Partnership ps-web created")
	if !strings.HasPrefix(r.Header.Get("Location"), "/app/partnerships/ps-web?") {
		t.Errorf("after create partnership: %s", r.Header.Get("Location"))
	}
	if code, _ := en.apiCall("admin", "POST", "/v1/partnerships", map[string]any{"id": "ps-api", "partner": "ch-api",
		"country": "de", "direction": "inbound"}); code != 201 {
		t.Fatalf("API create partnership: %d", code)
	}
	tw.sameObject("partnership", en.object("/v1/partnerships/ps-web"), en.object("/v1/partnerships/ps-api"))
	tw.sameAudit("partnership", "ps-web", "ps-api")

	// Terms: the first version from the partnership page's form, then a
	// pause, each as PATCH .../terms.
	_, page = b.get("/app/partnerships/ps-web")
	if !strings.Contains(page, `<form id="new-terms"`) || !strings.Contains(page, `data-latest-version="0"`) {
		t.Fatal("partnership page: no terms form for an admin")
	}
	terms := url.Values{"form": {"new-terms"}, "effective_from": {"2026-09-01"}, "currency": {"chf"},
		"inbound_cpa": {"3.25"}, "inbound_revshare_pct": {"12.5"}, "outbound_cpa": {""}, "outbound_revshare_pct": {""},
		"attribution_model": {"first_click"}, "attribution_window_days": {"14"}, "inbound_revenue_window_days": {"90"},
		"outbound_revenue_window_days": {""}, "target_inbound_users_month": {"40"}, "target_outbound_users_month": {"0"},
		"fallback_url": {"https://ours.example/fallback"}, "partner_may_create_links": {"true"}}
	r, _ = b.post("/app/partnerships/ps-web/terms", terms)
	b.posted("new terms", r, "Terms version 1 of ps-web saved (active from 2026-09-01).")
	code, _ := en.apiCall("admin", "PATCH", "/v1/partnerships/ps-api/terms", map[string]any{"effective_from": "2026-09-01",
		"currency": "chf", "inbound_cpa": 3.25, "inbound_revshare_pct": 12.5, "outbound_cpa": 0, "outbound_revshare_pct": 0,
		"attribution_model": "first_click", "attribution_window_days": 14, "inbound_revenue_window_days": 90,
		"outbound_revenue_window_days": 0, "target_inbound_users_month": 40, "target_outbound_users_month": 0,
		"fallback_url": "https://ours.example/fallback", "partner_may_create_links": true})
	if code != 201 {
		t.Fatalf("API patch terms: %d", code)
	}
	// The same form again changes nothing, as the API's same PATCH.
	r, _ = b.post("/app/partnerships/ps-web/terms", terms)
	b.posted("same terms again", r, "Nothing changed")
	_, page = b.get("/app/partnerships/ps-web")
	if !strings.Contains(page, `data-set-status="paused"`) {
		t.Fatal("partnership page: no pause button")
	}
	r, _ = b.post("/app/partnerships/ps-web/terms", url.Values{"form": {"partnership-status"}, "status": {"paused"}})
	b.posted("pause partnership", r, "(paused from "+testenv.Now().UTC().Format(time.DateOnly)+")")
	if code, _ := en.apiCall("admin", "PATCH", "/v1/partnerships/ps-api/terms", map[string]any{"status": "paused"}); code != 201 {
		t.Fatalf("API pause: %d", code)
	}
	versions := func(id string) []map[string]string {
		return en.apiItems("admin", "/v1/partnerships/"+id+"/versions")
	}
	wv, av := versions("ps-web"), versions("ps-api")
	if len(wv) != 2 || len(av) != 2 || wv[1]["status"] != "paused" || wv[0]["currency"] != "CHF" {
		t.Fatalf("versions: form %v, API %v", wv, av)
	}
	for i := range wv {
		w, a := map[string]any{}, map[string]any{}
		for k, v := range wv[i] {
			w[k] = v
		}
		for k, v := range av[i] {
			a[k] = v
		}
		tw.sameObject("terms version", w, a)
	}
	tw.sameAudit("partnership", "ps-web", "ps-api")

	// The admin page's partnership row buttons: archive ps-web.
	_, page = b.get("/app/admin")
	if !strings.Contains(page, `action="/app/partnerships/ps-web/terms" class="inline" data-set-status="archived"`) {
		t.Error("admin page: no archive button on ps-web's row")
	}
	r, _ = b.post("/app/partnerships/ps-web/terms", url.Values{"form": {"partnership-status"}, "status": {"archived"}, "return": {"/app/admin"}})
	b.posted("archive from the admin page", r, "archived from")
	if !strings.HasPrefix(r.Header.Get("Location"), "/app/admin?") {
		t.Errorf("archive from the admin page went to %s", r.Header.Get("Location"))
	}

	// Links: created on an active partnership (the fixture's), then paused
	// and archived with the row buttons, as PATCH /v1/links/CODE.
	tw.renames = [][2]string{{"lk-web", "lk-api"}}
	r, _ = b.post("/app/links", url.Values{"partnership": {"ps-de-alpha"}, "direction": {"outbound"}, "url": {"https://alpha.example/x"},
		"campaign": {"spring"}, "code": {"lk-web"}, "expires_at": {"2030-01-31"}, "return": {"/app/partnerships/ps-de-alpha"}})
	b.posted("create link", r, "Link lk-web created.")
	if code, _ := en.apiCall("admin", "POST", "/v1/links", map[string]any{"partnership": "ps-de-alpha", "direction": "outbound",
		"url": "https://alpha.example/x", "campaign": "spring", "code": "lk-api", "expires_at": "2030-01-31"}); code != 201 {
		t.Fatalf("API create link: %d", code)
	}
	_, page = b.get("/app/partnerships/ps-de-alpha")
	if !strings.Contains(page, `action="/app/links/lk-web/status" class="inline" data-set-status="paused"`) {
		t.Fatal("partnership page: no pause button on link lk-web")
	}
	for _, st := range []string{"paused", "archived"} {
		r, _ = b.post("/app/links/lk-web/status", url.Values{"status": {st}, "return": {"/app/partnerships/ps-de-alpha"}})
		b.posted(st+" link", r, "Link lk-web is "+st+".")
		if code, _ := en.apiCall("admin", "PATCH", "/v1/links/lk-api", map[string]any{"status": st}); code != 200 {
			t.Fatalf("API %s link: %d", st, code)
		}
	}
	tw.sameObject("link", en.object("/v1/links/lk-web"), en.object("/v1/links/lk-api"), "tracking_url", "qr_url")
	tw.sameAudit("link", "lk-web", "lk-api")

	// Token: the secret is on the creation answer only.
	r, page = b.post("/app/tokens", url.Values{"role": {"country_manager"}, "countries": {"it, es"}, "partner": {""},
		"name": {"south desk"}, "expires_at": {"2031-06-30"}, "return": {"/app/admin"}})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create token: %d", r.StatusCode)
	}
	m := regexp.MustCompile(`data-secret>(xpt_[^<]+)<`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no secret on the creation page")
	}
	secret := m[1]
	code, acct := en.apiCall(secret, "GET", "/v1/partnerships", nil)
	if code != 200 {
		t.Fatalf("the new token does not work: %d %v", code, acct)
	}
	var webTok map[string]any
	for _, it := range en.apiItems("admin", "/v1/tokens") {
		if it["name"] == "south desk" {
			webTok = map[string]any{}
			for k, v := range it {
				webTok[k] = v
			}
		}
	}
	if webTok == nil || webTok["countries"] != "ES,IT" || webTok["role"] != "country_manager" || webTok["created_by"] != "admin" ||
		!strings.HasPrefix(webTok["expires_at"].(string), "2031-06-30T00:00:00") {
		t.Fatalf("stored token %v", webTok)
	}
	code, apiTok := en.apiCall("admin", "POST", "/v1/tokens", map[string]any{"role": "country_manager", "countries": []string{"it", "es"},
		"name": "south desk", "expires_at": "2031-06-30T00:00:00Z"})
	if code != 201 {
		t.Fatalf("API create token: %d", code)
	}
	webID, apiID := webTok["id"].(string), apiTok["id"].(string)
	tw.renames = [][2]string{{webID, apiID}}
	tw.sameAudit("token", webID, apiID)
	// Nowhere else: not on the admin page, not in the audit or the tokens
	// table, not in the logs.
	_, page = b.get("/app/admin")
	_, auditBody := en.apiBytes("admin", "/v1/audit?limit=10000")
	_, tokBody := en.apiBytes("admin", "/v1/tokens")
	var stored string
	if err := en.pg.Pool.QueryRow(context.Background(), `SELECT string_agg(id || encode(secret_hash, 'hex') || name || created_by, ' ') FROM tokens`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(secret, "_")
	for where, s := range map[string]string{"admin page": page, "audit": string(auditBody), "token list": string(tokBody),
		"tokens table": stored, "logs": logs.String()} {
		if strings.Contains(s, secret) || (len(rest) > 16 && strings.Contains(s, rest[len(rest)-16:])) {
			t.Errorf("the token's secret is in the %s", where)
		}
	}
}

// auditCount is how many audit entries there are.
func (en *env) auditCount() int {
	en.t.Helper()
	return len(en.apiItems("admin", "/v1/audit?limit=10000"))
}

// options are the values of the <option>s of select name in form id.
func options(t *testing.T, body, form, name string) []string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	walk(doc, func(n *html.Node) {
		if id, _ := attr(n, "id"); n.Type != html.ElementNode || n.Data != "form" || id != form {
			return
		}
		walk(n, func(s *html.Node) {
			if nm, _ := attr(s, "name"); s.Type != html.ElementNode || s.Data != "select" || nm != name {
				return
			}
			walk(s, func(o *html.Node) {
				if o.Type == html.ElementNode && o.Data == "option" {
					v, ok := attr(o, "value")
					if !ok {
						v = textOf(o)
					}
					out = append(out, v)
				}
			})
		})
	})
	return out
}

// TestManagerForms: a country manager makes partnerships, terms versions
// and links and pauses links in its country, as the API lets it (same
// objects and audit entries); in another country every form answers what
// the API answers and writes nothing; roles that never write are refused.
func TestManagerForms(t *testing.T) {
	en := setup(t)
	de := en.signedIn("cm-de")
	_, page := de.get("/app/country/DE")
	if got := options(t, page, "new-partnership", "partner"); strings.Join(got, ",") != "alpha" {
		t.Errorf("DE manager's partner choices %v, want the partners it can see (alpha)", got)
	}
	// One partnership per partner and country (alpha has ps-de-alpha): the
	// twins are made on two partners of the manager's own.
	for _, id := range []string{"pw-web", "pw-api"} {
		if code, _ := en.apiCall("cm-de", "POST", "/v1/partners", map[string]any{"id": id, "name": "Twin"}); code != 201 {
			t.Fatalf("API partner %s: %d", id, code)
		}
	}
	tw := &twin{t: t, en: en, renames: [][2]string{{"de-web", "de-api"}, {"pw-web", "pw-api"}}}
	r, _ := de.post("/app/partnerships", url.Values{"form": {"new-partnership"}, "id": {"de-web"}, "partner": {"pw-web"},
		"country": {"DE"}, "direction": {"both"}, "return": {"/app/country/DE"}})
	de.posted("manager: create partnership", r, "Partnership de-web created")
	if code, _ := en.apiCall("cm-de", "POST", "/v1/partnerships", map[string]any{"id": "de-api", "partner": "pw-api", "country": "DE", "direction": "both"}); code != 201 {
		t.Fatalf("API: %d", code)
	}
	tw.sameObject("partnership", en.object("/v1/partnerships/de-web"), en.object("/v1/partnerships/de-api"))
	_, page = de.get("/app/partnerships/de-web")
	if !strings.Contains(page, `<form id="new-terms"`) || !strings.Contains(page, `<form id="new-link"`) {
		t.Fatal("manager: no terms or link form on its partnership")
	}
	r, _ = de.post("/app/partnerships/de-web/terms", url.Values{"form": {"new-terms"}, "currency": {"EUR"}, "outbound_cpa": {"1.10"},
		"outbound_revshare_pct": {"5"}, "fallback_url": {"https://ours.example/"}})
	de.posted("manager: terms", r, "Terms version 1 of de-web saved")
	if code, _ := en.apiCall("cm-de", "PATCH", "/v1/partnerships/de-api/terms", map[string]any{"currency": "EUR", "outbound_cpa": "1.10",
		"outbound_revshare_pct": 5, "fallback_url": "https://ours.example/"}); code != 201 {
		t.Fatalf("API terms: %d", code)
	}
	tw.sameAudit("partnership", "de-web", "de-api")
	tw.renames = append(tw.renames, [2]string{"dl-web", "dl-api"})
	r, _ = de.post("/app/links", url.Values{"partnership": {"de-web"}, "direction": {"inbound"}, "url": {"https://ours.example/de/w"},
		"code": {"dl-web"}, "return": {"/app/partnerships/de-web"}})
	de.posted("manager: link", r, "Link dl-web created.")
	r, _ = de.post("/app/links/dl-web/status", url.Values{"status": {"paused"}, "return": {"/app/partnerships/de-web"}})
	de.posted("manager: pause link", r, "Link dl-web is paused.")
	if code, _ := en.apiCall("cm-de", "POST", "/v1/links", map[string]any{"partnership": "de-api", "direction": "inbound",
		"url": "https://ours.example/de/w", "code": "dl-api"}); code != 201 {
		t.Fatalf("API link: %d", code)
	}
	if code, _ := en.apiCall("cm-de", "PATCH", "/v1/links/dl-api", map[string]any{"status": "paused"}); code != 200 {
		t.Fatalf("API pause link: %d", code)
	}
	tw.sameObject("link", en.object("/v1/links/dl-web"), en.object("/v1/links/dl-api"), "tracking_url", "qr_url")
	tw.sameAudit("link", "dl-web", "dl-api")
	if a := en.auditOf("link", "dl-web"); len(a) != 2 || a[1]["actor"] != "cm-de" || a[1]["country"] != "DE" {
		t.Errorf("link audit %v", a)
	}

	// A FR manager in DE: the API's answer, nothing written.
	fr := en.signedIn("cm-fr")
	_, page = fr.get("/app/country/FR")
	if got := options(t, page, "new-partnership", "partner"); strings.Join(got, ",") != "bravo" {
		t.Errorf("FR manager's partner choices %v", got)
	}
	before := en.auditCount()
	for _, c := range []struct {
		name, path string
		form       url.Values
		method     string
		apiPath    string
		body       map[string]any
	}{
		{"create partnership in DE", "/app/partnerships", url.Values{"id": {"fr-in-de"}, "partner": {"alpha"}, "country": {"DE"}, "direction": {"both"}, "return": {"/app/country/FR"}},
			"POST", "/v1/partnerships", map[string]any{"id": "fr-in-de", "partner": "alpha", "country": "DE", "direction": "both"}},
		{"terms of a DE partnership", "/app/partnerships/ps-de-alpha/terms", url.Values{"form": {"new-terms"}, "inbound_cpa": {"9"}},
			"PATCH", "/v1/partnerships/ps-de-alpha/terms", map[string]any{"inbound_cpa": 9}},
		{"pause a DE partnership", "/app/partnerships/ps-de-alpha/terms", url.Values{"form": {"partnership-status"}, "status": {"paused"}},
			"PATCH", "/v1/partnerships/ps-de-alpha/terms", map[string]any{"status": "paused"}},
		{"pause a DE link", "/app/links/de-in/status", url.Values{"status": {"paused"}},
			"PATCH", "/v1/links/de-in", map[string]any{"status": "paused"}},
		{"link on a DE partnership", "/app/links", url.Values{"partnership": {"ps-de-alpha"}, "direction": {"inbound"}, "url": {"https://ours.example/x"}, "return": {"/app/country/FR"}},
			"POST", "/v1/links", map[string]any{"partnership": "ps-de-alpha", "direction": "inbound", "url": "https://ours.example/x"}},
	} {
		r, body := fr.post(c.path, c.form)
		want, _ := en.apiCall("cm-fr", c.method, c.apiPath, c.body)
		if r.StatusCode != want || want < 400 {
			t.Errorf("FR manager, %s: %d, the API %d", c.name, r.StatusCode, want)
		}
		t.Logf("FR manager, %s: %d (the API: %d)", c.name, r.StatusCode, want)
		if strings.Contains(body, "ps-de-alpha") && r.StatusCode == http.StatusNotFound {
			t.Errorf("FR manager, %s: the 404 names the partnership", c.name)
		}
	}
	// The API answers 422 naming country; the form is shown again on FR's page.
	r, body := fr.post("/app/partnerships", url.Values{"form": {"new-partnership"}, "id": {"fr-in-de"}, "partner": {"bravo"},
		"country": {"DE"}, "direction": {"both"}, "return": {"/app/country/FR"}})
	refused(t, "FR manager, partnership in DE", r, body, http.StatusUnprocessableEntity, "new-partnership", "country")
	if after := en.auditCount(); after != before {
		t.Errorf("refused writes left %d audit entries", after-before)
	}

	// Roles that never write: the API's 403.
	for _, c := range []struct {
		who, path string
		form      url.Values
		apiMethod string
		apiPath   string
		body      map[string]any
	}{
		{"finance", "/app/partnerships", url.Values{"id": {"x"}, "partner": {"alpha"}, "country": {"DE"}, "direction": {"both"}},
			"POST", "/v1/partnerships", map[string]any{"id": "x", "partner": "alpha", "country": "DE", "direction": "both"}},
		{"partner-a", "/app/partnerships/ps-de-alpha/terms", url.Values{"status": {"paused"}},
			"PATCH", "/v1/partnerships/ps-de-alpha/terms", map[string]any{"status": "paused"}},
		{"partner-a", "/app/links/de-in/status", url.Values{"status": {"paused"}}, "PATCH", "/v1/links/de-in", map[string]any{"status": "paused"}},
		{"cm-de", "/app/tokens", url.Values{"role": {"admin"}, "name": {"x"}}, "POST", "/v1/tokens", map[string]any{"role": "admin", "name": "x"}},
		{"cm-de", "/app/partners", url.Values{"id": {"zz"}, "name": {"Z"}, "countries": {"FR"}},
			"POST", "/v1/partners", map[string]any{"id": "zz", "name": "Z", "countries": []string{"FR"}}},
	} {
		r, _ := en.signedIn(c.who).post(c.path, c.form)
		want, _ := en.apiCall(c.who, c.apiMethod, c.apiPath, c.body)
		if r.StatusCode != want || want < 400 {
			t.Errorf("%s POST %s: %d, the API %d", c.who, c.path, r.StatusCode, want)
		}
	}
	if after := en.auditCount(); after != before {
		t.Errorf("refused writes left %d audit entries", after-before)
	}
}

// TestFormsCSRF: every write form refuses a missing or wrong CSRF secret
// (and a foreign origin) with 403 and writes nothing.
func TestFormsCSRF(t *testing.T) {
	en := setup(t)
	b := en.signedIn("admin")
	good := b.csrf()
	before := en.auditCount()
	forms := map[string]url.Values{
		"/app/partners":                       {"id": {"csrf-p"}, "name": {"P"}},
		"/app/partnerships":                   {"id": {"csrf-ps"}, "partner": {"alpha"}, "country": {"DE"}, "direction": {"both"}},
		"/app/partnerships/ps-de-alpha/terms": {"status": {"paused"}},
		"/app/links":                          {"partnership": {"ps-de-alpha"}, "direction": {"inbound"}, "url": {"https://ours.example/c"}},
		"/app/links/de-in/status":             {"status": {"paused"}},
		"/app/tokens":                         {"role": {"admin"}, "name": {"csrf"}},
	}
	for path, form := range forms {
		for _, c := range []struct {
			name, csrf string
			hd         map[string]string
		}{
			{"missing", "", nil},
			{"wrong", strings.Repeat("A", 43), nil},
			{"foreign origin", good, map[string]string{"Origin": "https://evil.example"}},
		} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if c.csrf != "" {
				f.Set("csrf", c.csrf)
			}
			r, body := b.do("POST", path, f, c.hd)
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("%s csrf, POST %s: %d", c.name, path, r.StatusCode)
			}
			if strings.Contains(body, "data-secret") {
				t.Errorf("%s csrf, POST %s: a token was made", c.name, path)
			}
		}
	}
	if after := en.auditCount(); after != before {
		t.Errorf("refused posts wrote %d audit entries", after-before)
	}
	if n := len(en.apiItems("admin", "/v1/tokens")); n != 7 {
		t.Errorf("%d tokens after refused posts, want the fixture's 7", n)
	}
}

// TestFormValidation: a refused field re-renders the form (422, 409 for a
// taken id) with what was posted and the field named; never a 500.
func TestFormValidation(t *testing.T) {
	en := setup(t)
	b := en.signedIn("admin")
	before := en.auditCount()
	for _, c := range []struct {
		name, path string
		form       url.Values
		code       int
		formID     string
		field      string
	}{
		{"partner id", "/app/partners", url.Values{"form": {"new-partner"}, "id": {"Bad ID"}, "name": {"Keep me"}, "return": {"/app/admin"}}, 422, "new-partner", "id"},
		{"partner taken", "/app/partners", url.Values{"form": {"new-partner"}, "id": {"alpha"}, "name": {"Again"}, "return": {"/app/admin"}}, 409, "new-partner", "id"},
		{"partner domain", "/app/partners", url.Values{"form": {"new-partner"}, "id": {"dd"}, "name": {"D"}, "domains": {"not a domain!"}, "return": {"/app/admin"}}, 422, "new-partner", "domains"},
		{"partnership partner", "/app/partnerships", url.Values{"form": {"new-partnership"}, "id": {"ps-x"}, "partner": {"nobody"}, "country": {"DE"}, "direction": {"both"}, "return": {"/app/admin"}}, 422, "new-partnership", "partner"},
		{"partnership country", "/app/partnerships", url.Values{"form": {"new-partnership"}, "id": {"ps-x"}, "partner": {"alpha"}, "country": {"D1"}, "direction": {"both"}, "return": {"/app/admin"}}, 422, "new-partnership", "country"},
		{"partnership direction", "/app/partnerships", url.Values{"form": {"new-partnership"}, "id": {"ps-x"}, "partner": {"alpha"}, "country": {"DE"}, "direction": {"sideways"}, "return": {"/app/admin"}}, 422, "new-partnership", "direction"},
		{"partnership taken", "/app/partnerships", url.Values{"form": {"new-partnership"}, "id": {"ps-fr-bravo"}, "partner": {"alpha"}, "country": {"DE"}, "direction": {"both"}, "return": {"/app/admin"}}, 409, "new-partnership", "id"},
		{"terms cpa", "/app/partnerships/ps-de-alpha/terms", url.Values{"form": {"new-terms"}, "inbound_cpa": {"abc"}}, 422, "new-terms", "inbound_cpa"},
		{"terms cpa negative", "/app/partnerships/ps-de-alpha/terms", url.Values{"form": {"new-terms"}, "outbound_cpa": {"-1"}}, 422, "new-terms", "outbound_cpa"},
		{"terms currency", "/app/partnerships/ps-de-alpha/terms", url.Values{"form": {"new-terms"}, "currency": {"ZZZ"}}, 422, "new-terms", "currency"},
		{"terms window", "/app/partnerships/ps-de-alpha/terms", url.Values{"form": {"new-terms"}, "attribution_window_days": {"99999"}}, 422, "new-terms", "attribution_window_days"},
		{"terms model", "/app/partnerships/ps-de-alpha/terms", url.Values{"form": {"new-terms"}, "attribution_model": {"linear"}}, 422, "new-terms", "attribution_model"},
		{"terms before latest", "/app/partnerships/ps-de-alpha/terms", url.Values{"form": {"new-terms"}, "effective_from": {"2026-01-01"}}, 422, "new-terms", "effective_from"},
		{"terms fallback", "/app/partnerships/ps-de-alpha/terms", url.Values{"form": {"new-terms"}, "fallback_url": {"javascript:alert(1)"}}, 422, "new-terms", "fallback_url"},
		{"partnership status", "/app/partnerships/ps-de-alpha/terms", url.Values{"form": {"partnership-status"}, "status": {"frozen"}}, 422, "partnership-status", "status"},
		{"link url", "/app/links", url.Values{"partnership": {"ps-de-alpha"}, "direction": {"outbound"}, "url": {"https://elsewhere.example/"}, "return": {"/app/partnerships/ps-de-alpha"}}, 422, "new-link", "url"},
		{"link code taken", "/app/links", url.Values{"partnership": {"ps-de-alpha"}, "direction": {"inbound"}, "url": {"https://ours.example/"}, "code": {"de-in"}, "return": {"/app/partnerships/ps-de-alpha"}}, 409, "new-link", "code"},
		{"link expiry", "/app/links", url.Values{"partnership": {"ps-de-alpha"}, "direction": {"inbound"}, "url": {"https://ours.example/"}, "expires_at": {"soon"}, "return": {"/app/partnerships/ps-de-alpha"}}, 422, "new-link", "expires_at"},
		{"link status", "/app/links/de-in/status", url.Values{"status": {"frozen"}, "return": {"/app/partnerships/ps-de-alpha"}}, 422, "link-status", "status"},
		{"token role", "/app/tokens", url.Values{"role": {"boss"}, "name": {"x"}, "return": {"/app/admin"}}, 422, "new-token", "role"},
		{"token countries", "/app/tokens", url.Values{"role": {"country_manager"}, "name": {"x"}, "return": {"/app/admin"}}, 422, "new-token", "countries"},
		{"token partner", "/app/tokens", url.Values{"role": {"partner"}, "partner": {"nobody"}, "name": {"x"}, "return": {"/app/admin"}}, 422, "new-token", "partner"},
		{"token expiry", "/app/tokens", url.Values{"role": {"admin"}, "name": {"x"}, "expires_at": {"2001-01-01"}, "return": {"/app/admin"}}, 422, "new-token", "expires_at"},
	} {
		r, body := b.post(c.path, c.form)
		refused(t, c.name, r, body, c.code, c.formID, c.field)
		if strings.Contains(body, "data-secret") {
			t.Errorf("%s: a token was made", c.name)
		}
	}
	// What was posted is in the form again.
	_, body := b.post("/app/partners", url.Values{"form": {"new-partner"}, "id": {"Bad ID"}, "name": {"Keep me"}, "return": {"/app/admin"}})
	if !strings.Contains(body, `name="id" required pattern="[a-z0-9][a-z0-9_-]{0,63}" value="Bad ID" aria-invalid="true"`) || !strings.Contains(body, `value="Keep me"`) {
		t.Error("the refused partner form does not keep what was posted")
	}
	_, body = b.post("/app/partnerships/ps-de-alpha/terms", url.Values{"form": {"new-terms"}, "inbound_cpa": {"abc"}, "currency": {"usd"}})
	if !strings.Contains(body, `name="inbound_cpa" inputmode="decimal" value="abc" aria-invalid="true"`) || !strings.Contains(body, `name="currency" required maxlength="3" value="usd"`) {
		t.Error("the refused terms form does not keep what was posted")
	}
	if after := en.auditCount(); after != before {
		t.Errorf("refused forms wrote %d audit entries", after-before)
	}
}
