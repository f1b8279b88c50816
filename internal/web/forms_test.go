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

// refused checks a refusal: the status, and the page with the form again,
// naming field.
func refused(t *testing.T, what string, resp *http.Response, body string, code int, form, field string) {
	t.Helper()
	if resp.StatusCode != code {
		t.Errorf("%s: %d, want %d", what, resp.StatusCode, code)
		return
	}
	m := formErrRe.FindStringSubmatch(body)
	if m == nil || m[1] != form || m[2] != field {
		t.Errorf("%s: no refusal of form %s naming %s (got %v)", what, form, field, m)
	}
	if !strings.Contains(body, `<form id="`+form+`"`) {
		t.Errorf("%s: the form %s is not shown again", what, form)
	}
	if !regexp.MustCompile(`name="` + regexp.QuoteMeta(field) + `"[^>]*aria-invalid="true"`).MatchString(body) &&
		!regexp.MustCompile(`aria-invalid="true"[^>]*name="`+regexp.QuoteMeta(field)+`"`).MatchString(body) &&
		!strings.Contains(body, `name="`+field+`" aria-invalid`) && !strings.Contains(body, `<select name="`+field+`" aria-invalid`) {
		// A field with no input of its own (a hidden one) is named in the message only.
		if !strings.Contains(body, `type="hidden" name="`+field+`"`) {
			t.Errorf("%s: field %s is not marked", what, field)
		}
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
	b.posted("pause partnership", r, "(paused from "+time.Now().UTC().Format(time.DateOnly)+")")
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
	if err := en.db.Conn.QueryRow(context.Background(), `SELECT arrayStringConcat(groupArray(concat(id, secret_hash, name, created_by)), ' ') FROM tokens`).Scan(&stored); err != nil {
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
