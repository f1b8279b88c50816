package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/xpromo/xpromo/domain/catalog"
)

// withIfMatch is en.serve as admin with If-Match set ("" sends none).
func (en *env) withIfMatch(method, path, ifMatch, body string) *httptest.ResponseRecorder {
	en.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", "Bearer "+en.tokens["admin"])
	if ifMatch != "" {
		r.Header.Set("If-Match", ifMatch)
	}
	w := httptest.NewRecorder()
	en.e.ServeHTTP(w, r)
	return w
}

// TestETagIfMatch: a read answers the version as ETag; a change with the
// right If-Match (or none: it is optional) goes through and answers the
// new ETag; a stale one is 412 naming the current version, and changes
// nothing, audit included; a malformed one is 400.
func TestETagIfMatch(t *testing.T) {
	en := setup(t)
	for _, obj := range []struct{ path, body, entity, id string }{
		{"/v1/partners/alpha", `{"name":"Alpha Two"}`, catalog.EntityPartner, "alpha"},
		{"/v1/partnerships/ps-de-alpha", `{"direction":"inbound"}`, catalog.EntityPartnership, "ps-de-alpha"},
		{"/v1/links/de-in", `{"campaign":"autumn"}`, catalog.EntityLink, "de-in"},
	} {
		t.Run(obj.path, func(t *testing.T) {
			get := en.withIfMatch("GET", obj.path, "", "")
			if get.Code != http.StatusOK || get.Header().Get("ETag") != `"1"` {
				t.Fatalf("GET = %d, ETag %q; want 200 with \"1\"", get.Code, get.Header().Get("ETag"))
			}
			audits := len(auditOf(t, en, obj.entity, obj.id))
			for _, tc := range []struct {
				ifMatch string
				want    int
				etag    string
			}{
				{`1`, 400, ""},
				{`W/"1"`, 400, ""},
				{`"1", "2"`, 400, ""},
				{`"x"`, 400, ""},
				{`"0"`, 400, ""},
				{`"7"`, 412, `"1"`},
			} {
				w := en.withIfMatch("PATCH", obj.path, tc.ifMatch, obj.body)
				if w.Code != tc.want || w.Header().Get("ETag") != tc.etag {
					t.Errorf("PATCH with If-Match %s = %d %s (ETag %q), want %d (ETag %q)", tc.ifMatch, w.Code, w.Body, w.Header().Get("ETag"), tc.want, tc.etag)
				}
				if tc.want == 412 {
					eb := errCode(t, w.Body.String())
					if eb.Error != "precondition_failed" || !strings.Contains(eb.Reason, "version 1") {
						t.Errorf("412 body %+v: want precondition_failed naming version 1", eb)
					}
				}
			}
			if n := len(auditOf(t, en, obj.entity, obj.id)); n != audits {
				t.Errorf("%d audit entries after refused changes, want %d", n, audits)
			}
			if w := en.withIfMatch("GET", obj.path, "", ""); w.Body.String() != get.Body.String() {
				t.Errorf("refused changes changed %s: %s, was %s", obj.path, w.Body, get.Body)
			}
			w := en.withIfMatch("PATCH", obj.path, `"1"`, obj.body)
			if w.Code != http.StatusOK || w.Header().Get("ETag") != `"2"` || !strings.Contains(w.Body.String(), `"version":2`) {
				t.Fatalf("PATCH with If-Match \"1\" = %d %s (ETag %q), want 200 at version 2", w.Code, w.Body, w.Header().Get("ETag"))
			}
			if w := en.withIfMatch("PATCH", obj.path, `"1"`, obj.body); w.Code != http.StatusPreconditionFailed || w.Header().Get("ETag") != `"2"` {
				t.Errorf("PATCH again from version 1 = %d (ETag %q), want 412 at \"2\"", w.Code, w.Header().Get("ETag"))
			}
			if w := en.withIfMatch("PATCH", obj.path, "", obj.body); w.Code != http.StatusOK {
				t.Errorf("PATCH without If-Match = %d %s, want 200 (If-Match is optional)", w.Code, w.Body)
			}
			if w := en.withIfMatch("PATCH", obj.path, "*", obj.body); w.Code != http.StatusOK {
				t.Errorf("PATCH with If-Match * = %d %s, want 200", w.Code, w.Body)
			}
		})
	}
}

// TestTermsIfMatch: the terms' ETag is their latest version; a PUT or
// PATCH from an older one is 412 and adds no version.
func TestTermsIfMatch(t *testing.T) {
	en := setup(t)
	const path = "/v1/partnerships/ps-de-alpha"
	get := en.withIfMatch("GET", path+"/versions", "", "")
	if get.Code != http.StatusOK || get.Header().Get("ETag") != `"1"` {
		t.Fatalf("GET versions = %d, ETag %q; want 200 with \"1\"", get.Code, get.Header().Get("ETag"))
	}
	if w := en.withIfMatch("PUT", path+"/terms", `"1"`, termsBody("USD")); w.Code != http.StatusCreated || w.Header().Get("ETag") != `"2"` {
		t.Fatalf("PUT terms from version 1 = %d %s (ETag %q), want 201 at \"2\"", w.Code, w.Body, w.Header().Get("ETag"))
	}
	for _, m := range []struct{ method, body string }{{"PUT", termsBody("GBP")}, {"PATCH", `{"status":"paused"}`}} {
		w := en.withIfMatch(m.method, path+"/terms", `"1"`, m.body)
		if w.Code != http.StatusPreconditionFailed || w.Header().Get("ETag") != `"2"` {
			t.Errorf("%s terms from version 1 at 2 = %d %s (ETag %q), want 412 at \"2\"", m.method, w.Code, w.Body, w.Header().Get("ETag"))
		}
	}
	if w := en.withIfMatch("PUT", path+"/terms", `bad`, termsBody("GBP")); w.Code != http.StatusBadRequest {
		t.Errorf("PUT terms with a malformed If-Match = %d, want 400", w.Code)
	}
	vs, err := en.cat.TermsVersions(t.Context(), "ps-de-alpha")
	if err != nil || len(vs) != 2 {
		t.Errorf("terms versions after refused changes: %d, %v; want 2", len(vs), err)
	}
}

// auditOf is the audit of one object.
func auditOf(t *testing.T, en *env, entity, id string) []catalog.AuditEntry {
	t.Helper()
	es, err := en.cat.AuditLog(t.Context(), catalog.AuditFilter{Entity: entity, EntityID: id})
	if err != nil {
		t.Fatal(err)
	}
	return es
}
