package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// fixedNow sets the API's clock to at, so "today" and "the past" do not
// depend on when the test runs.
func (en *env) fixedNow(at time.Time) {
	en.srv.Now = func() time.Time { return at }
}

// TestUnsupportedMethods: every method a path lacks answers 405 with the
// path's methods in Allow (not 404), after authentication, for every
// registered path; an unknown path stays 404.
func TestUnsupportedMethods(t *testing.T) {
	en := setup(t)
	allowed := map[string][]string{}
	for _, r := range en.e.Routes() {
		if r.Name == MethodNotAllowedRoute || strings.Contains(r.Path, "*") || !strings.HasPrefix(r.Path, "/v1/") {
			continue
		}
		allowed[r.Path] = append(allowed[r.Path], r.Method)
	}
	if len(allowed) < 10 {
		t.Fatalf("only %d paths registered: %v", len(allowed), allowed)
	}
	requests := 0
	for path, methods := range allowed {
		url := echoParam.ReplaceAllString(path, "x1")
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions} {
			if slices.Contains(methods, m) {
				continue
			}
			r := en.serve(m, url, "admin", "")
			body := r.Body.String()
			requests++
			if r.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s = %d, want 405: %s", m, url, r.Code, body)
				continue
			}
			got := strings.Split(r.Header().Get("Allow"), ", ")
			if !sameSet(got, methods) {
				t.Errorf("%s %s: Allow %q, want %v", m, url, r.Header().Get("Allow"), methods)
			}
			if m != http.MethodHead {
				if eb := errCode(t, body); eb.Error != "method_not_allowed" {
					t.Errorf("%s %s: error %q, want method_not_allowed", m, url, eb.Error)
				}
			}
		}
	}
	t.Logf("%d paths, %d refused requests", len(allowed), requests)

	// The example, exactly as a client sends it; nothing changes.
	r := en.serve("DELETE", "/v1/partners/alpha", "admin", "")
	body := r.Body.String()
	if r.Code != 405 || r.Header().Get("Allow") != "GET, PATCH" || !strings.Contains(body, `"reason":"DELETE is not allowed here; allowed: GET, PATCH"`) {
		t.Errorf("DELETE /v1/partners/alpha = %d Allow %q: %s", r.Code, r.Header().Get("Allow"), body)
	}
	if code, _ := en.do("GET", "/v1/partners/alpha", "admin", ""); code != 200 {
		t.Errorf("alpha after DELETE: %d", code)
	}
	// Without a token the answer is 401, as for every /v1 request.
	if code, body := en.do("DELETE", "/v1/partners/alpha", "", ""); code != 401 {
		t.Errorf("DELETE without a token = %d: %s", code, body)
	}
	if code, body := en.do("DELETE", "/v1/no-such-thing", "admin", ""); code != 404 {
		t.Errorf("unknown path = %d: %s", code, body)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestCreateLinkExpiry: POST /v1/links refuses an expires_at that is not
// in the future (422 on expires_at, nothing stored); PATCH may still end
// a link early.
func TestCreateLinkExpiry(t *testing.T) {
	en := setup(t)
	en.fixedNow(time.Date(2031, 5, 20, 12, 0, 0, 0, time.UTC))
	cases := []struct {
		name, expires string // expires: the JSON value, "" for absent
		want          int
	}{
		{"yesterday", `"2031-05-19"`, 422},
		{"today (midnight, passed)", `"2031-05-20"`, 422},
		{"a second ago", `"2031-05-20T11:59:59Z"`, 422},
		{"now", `"2031-05-20T14:00:00+02:00"`, 422},
		{"long ago", `"2020-01-01"`, 422},
		{"in a second", `"2031-05-20T12:00:01Z"`, 201},
		{"tomorrow", `"2031-05-21"`, 201},
		{"null", `null`, 201},
		{"empty", `""`, 201},
		{"absent", ``, 201},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code := "exp-" + string(rune('a'+i))
			body := `{"code":"` + code + `","partnership":"ps-de-alpha","direction":"inbound","url":"https://ours.example/x"`
			if tc.expires != "" {
				body += `,"expires_at":` + tc.expires
			}
			got, out := en.do("POST", "/v1/links", "admin", body+"}")
			if got != tc.want {
				t.Fatalf("POST /v1/links expires_at %s = %d, want %d: %s", tc.expires, got, tc.want, out)
			}
			if got == 422 {
				if eb := errCode(t, out); eb.Error != "validation" || eb.Field != "expires_at" || !strings.Contains(eb.Reason, "not in the future") {
					t.Errorf("422 body %s", out)
				}
				if c, _ := en.do("GET", "/v1/links/"+code, "admin", ""); c != 404 {
					t.Errorf("a refused link was stored: GET = %d", c)
				}
			}
		})
	}
	// Ending a link early stays possible.
	if code, body := en.do("PATCH", "/v1/links/de-in", "admin", `{"expires_at":"2031-05-19"}`); code != 200 || !strings.Contains(body, `"expires_at":"2031-05-19T00:00:00Z"`) {
		t.Errorf("PATCH a past expires_at = %d: %s", code, body)
	}
}

// TestTermsDatesDefaultToToday: PUT and PATCH .../terms and POST
// /partnerships with terms share one rule: without effective_from the
// terms take effect today (the API's clock, UTC), and start_date defaults
// to effective_from.
func TestTermsDatesDefaultToToday(t *testing.T) {
	en := setup(t)
	en.fixedNow(time.Date(2031, 5, 20, 23, 30, 0, 0, time.UTC))
	const today = "2031-05-20T00:00:00Z"
	type terms struct {
		EffectiveFrom string `json:"effective_from"`
		StartDate     string `json:"start_date"`
		Version       int    `json:"version"`
	}
	cases := []struct {
		name, method, path, body string
		terms                    func(body string) terms
		wantStart                string
	}{
		{"PUT without dates", "PUT", "/v1/partnerships/ps-de-alpha/terms", `{"currency":"EUR","inbound_cpa":"3"}`,
			func(b string) (x terms) { _ = json.Unmarshal([]byte(b), &x); return x }, today},
		{"PATCH without effective_from", "PATCH", "/v1/partnerships/ps-fr-bravo/terms", `{"inbound_cpa":"4"}`,
			func(b string) (x terms) { _ = json.Unmarshal([]byte(b), &x); return x },
			"2026-09-01T00:00:00Z"}, // inherited from the latest version, which has one
		{"POST /partnerships with terms without dates", "POST", "/v1/partnerships",
			`{"id":"ps-de-charlie","partner":"charlie","country":"DE","direction":"both","terms":{"currency":"EUR","inbound_cpa":"1"}}`,
			func(b string) terms {
				var x struct{ Terms terms }
				_ = json.Unmarshal([]byte(b), &x)
				return x.Terms
			}, today},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := en.do(tc.method, tc.path, "admin", tc.body)
			if code != http.StatusCreated {
				t.Fatalf("%s %s = %d, want 201: %s", tc.method, tc.path, code, body)
			}
			got := tc.terms(body)
			if got.EffectiveFrom != today || got.StartDate != tc.wantStart || got.Version == 0 {
				t.Errorf("%s %s: effective_from %q start_date %q (version %d), want %q and %q: %s",
					tc.method, tc.path, got.EffectiveFrom, got.StartDate, got.Version, today, tc.wantStart, body)
			}
		})
	}
}

// TestAuditBeforeAfterAreJSON: GET /v1/audit serves before and after as
// JSON objects (null before a creation), decoded once.
func TestAuditBeforeAfterAreJSON(t *testing.T) {
	en := setup(t)
	if code, body := en.do("PATCH", "/v1/partners/alpha", "admin", `{"name":"Alpha Renamed"}`); code != 200 {
		t.Fatalf("PATCH partner = %d: %s", code, body)
	}
	if code, body := en.do("POST", "/v1/tokens", "admin", `{"role":"finance","name":"audited"}`); code != 201 {
		t.Fatalf("POST token = %d: %s", code, body)
	}
	type entry struct {
		Action string         `json:"action"`
		Entity string         `json:"entity"`
		Before map[string]any `json:"before"`
		After  map[string]any `json:"after"`
	}
	read := func(query string) []entry {
		t.Helper()
		code, body := en.do("GET", "/v1/audit?"+query, "admin", "")
		if code != 200 {
			t.Fatalf("GET /v1/audit?%s = %d: %s", query, code, body)
		}
		if strings.Contains(body, `"before":"`) || strings.Contains(body, `"after":"`) {
			t.Errorf("before/after still JSON strings: %s", body)
		}
		var l List[entry]
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatalf("audit does not decode into objects: %v: %s", err, body)
		}
		return l.Items
	}
	es := read("entity=partner&entity_id=alpha")
	if len(es) != 2 {
		t.Fatalf("audit of alpha: %+v", es)
	}
	upd, create := es[0], es[1] // newest first
	if upd.Action != "update" || upd.Before["name"] != partners["alpha"] || upd.After["name"] != "Alpha Renamed" {
		t.Errorf("update entry %+v", upd)
	}
	if create.Action != "create" || create.Before != nil || create.After["id"] != "alpha" {
		t.Errorf("create entry %+v", create)
	}
	if code, body := en.do("GET", "/v1/audit?entity=partner&entity_id=alpha&limit=1", "admin", ""); code != 200 || !strings.Contains(body, `"before":{`) {
		t.Errorf("raw update entry: %s", body)
	}
	tok := read("entity=token")
	if len(tok) != 1 || tok[0].After["role"] != "finance" || tok[0].After["name"] != "audited" {
		t.Errorf("token entry %+v", tok)
	}
}

// TestOnePartnershipPerPartnerAndCountry: a second partnership for the
// same partner and country is a 409 naming the existing one, and nothing
// is stored; another country is fine.
func TestOnePartnershipPerPartnerAndCountry(t *testing.T) {
	en := setup(t)
	cases := []struct {
		name, who, body string
		want            int
		field, reason   string
	}{
		{"same partner and country", "admin", `{"id":"ps-de-alpha-2","partner":"alpha","country":"DE","direction":"inbound"}`,
			409, "country", `partner "alpha" already has partnership "ps-de-alpha" in DE`},
		{"country in lower case", "admin", `{"id":"ps-de-alpha-3","partner":"alpha","country":"de","direction":"outbound"}`,
			409, "country", `"ps-de-alpha"`},
		{"with terms: none stored", "cm-de", `{"id":"ps-de-alpha-4","partner":"alpha","country":"DE","direction":"both","terms":{"currency":"EUR"}}`,
			409, "country", `"ps-de-alpha"`},
		{"a taken id is told first", "admin", `{"id":"ps-fr-bravo","partner":"alpha","country":"DE","direction":"both"}`,
			409, "id", `partnership "ps-fr-bravo"`},
		{"another country", "admin", `{"id":"ps-fr-alpha","partner":"alpha","country":"FR","direction":"both"}`, 201, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := en.do("POST", "/v1/partnerships", tc.who, tc.body)
			if code != tc.want {
				t.Fatalf("POST /v1/partnerships as %s = %d, want %d: %s", tc.who, code, tc.want, body)
			}
			if code == 409 {
				if eb := errCode(t, body); eb.Error != "exists" || eb.Field != tc.field || !strings.Contains(eb.Reason, tc.reason) {
					t.Errorf("409 body %s, want field %q and a reason with %s", body, tc.field, tc.reason)
				}
			}
		})
	}
	code, body := en.do("GET", "/v1/partnerships?partner=alpha", "admin", "")
	if ids, _ := itemIDs(t, body); code != 200 || !slices.Equal(ids, []string{"ps-de-alpha", "ps-fr-alpha"}) {
		t.Errorf("alpha's partnerships = %v: %s", ids, body)
	}
	if code, _ := en.do("GET", "/v1/partnerships/ps-de-alpha-4/versions", "admin", ""); code != 404 {
		t.Errorf("terms of a refused partnership: %d", code)
	}
}
