package api

import (
	"bytes"
	"encoding/json"
	"image"
	_ "image/png"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/view"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestCountryManagerJourney is the management API's acceptance test: a
// country manager for DE creates a partner, an agreement, changes its
// terms next month, creates links and reads them back; a token for FR gets
// 404 on all of it; a partner token sees only its own; every change is in
// the audit log.
func TestCountryManagerJourney(t *testing.T) {
	en := setup(t)
	must := func(who, method, path, body string, want int) string {
		t.Helper()
		code, got := en.do(method, path, who, body)
		if code != want {
			t.Fatalf("%s %s %s = %d, want %d: %s", who, method, path, code, want, got)
		}
		return got
	}
	nextMonth := testenv.Now().UTC().AddDate(0, 1, 0)
	nextMonthStart := time.Date(nextMonth.Year(), nextMonth.Month(), 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	today := testenv.Now().UTC().Format(time.DateOnly)

	// The DE manager creates a partner: filed under DE.
	body := must("cm-de", "POST", "/v1/partners", `{"id":"delta","name":"Delta Medien AG","domains":["delta.example"]}`, 201)
	var pt catalog.Partner
	if err := json.Unmarshal([]byte(body), &pt); err != nil || !slices.Equal(pt.Countries, []string{"DE"}) || pt.Status != catalog.StatusActive {
		t.Fatalf("created partner %s (%v)", body, err)
	}
	must("cm-de", "GET", "/v1/partners/delta", "", 200)
	if ids, total := itemIDs(t, must("admin", "GET", "/v1/partners?country=DE", "", 200)); !slices.Equal(ids, []string{"alpha", "delta"}) || total != 2 {
		t.Fatalf("admin partners in DE = %v (%d), want alpha (partnership) and delta (filed)", ids, total)
	}
	if ids, total := itemIDs(t, must("admin", "GET", "/v1/partners?limit=2&offset=1", "", 200)); !slices.Equal(ids, []string{"bravo", "charlie"}) || total != 4 {
		t.Fatalf("admin partners page 2 = %v (%d)", ids, total)
	}
	// ... and cannot file one under FR.
	if code, body := en.do("POST", "/v1/partners", "cm-de", `{"id":"echo","name":"Echo","countries":["FR"]}`); code != 422 || errCode(t, body).Field != "countries" {
		t.Fatalf("cm-de files a partner under FR: %d %s", code, body)
	}

	// An agreement with its first terms, then a change from next month.
	must("cm-de", "POST", "/v1/partnerships", `{"id":"ps-de-delta","partner":"delta","country":"DE","direction":"both",
 "terms":{"effective_from":"`+today+`","currency":"EUR","inbound_cpa":"2.00","outbound_revshare_pct":"5",
 "fallback_url":"https://ours.example/partners/delta"}}`, 201)
	body = must("cm-de", "PATCH", "/v1/partnerships/ps-de-delta/terms", `{"effective_from":"`+nextMonthStart+`","inbound_cpa":"3.50"}`, 201)
	var v2 catalog.Terms
	if err := json.Unmarshal([]byte(body), &v2); err != nil || v2.Version != 2 || v2.InboundCPA.String() != "3.5" ||
		v2.OutboundRevSharePct.String() != "5" || v2.FallbackURL != "https://ours.example/partners/delta" {
		t.Fatalf("terms version 2 (unchanged fields inherited): %s", body)
	}
	var versions List[catalog.Terms]
	if err := json.Unmarshal([]byte(must("cm-de", "GET", "/v1/partnerships/ps-de-delta/versions", "", 200)), &versions); err != nil || versions.Total != 2 ||
		versions.Items[0].InboundCPA.String() != "2" || versions.Items[0].EffectiveFrom.Format(time.DateOnly) != today {
		t.Fatalf("versions: %+v (%v)", versions, err)
	}
	// A PATCH can not go back before the latest version.
	if code, body := en.do("PATCH", "/v1/partnerships/ps-de-delta/terms", "cm-de", `{"effective_from":"`+today+`","inbound_cpa":"9"}`); code != 422 || errCode(t, body).Field != "effective_from" {
		t.Fatalf("PATCH terms back in time: %d %s", code, body)
	}

	// Links: a vanity code and a generated one; read back with tracking URLs.
	body = must("cm-de", "POST", "/v1/links", `{"code":"delta-spring","partnership":"ps-de-delta","direction":"inbound",
 "url":"https://ours.example/welcome?src=delta&cid={click_id}","campaign":"spring","expires_at":"2030-01-01"}`, 201)
	var lv view.LinkView
	if err := json.Unmarshal([]byte(body), &lv); err != nil || lv.TrackingURL != "http://example.com/r/delta-spring" || lv.Country != "DE" ||
		lv.CreatedBy != "cm-de" || !lv.ExpiresAt.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("created link %s (%v)", body, err)
	}
	body = must("cm-de", "POST", "/v1/links", `{"partnership":"ps-de-delta","direction":"outbound","url":"https://shop.delta.example/offer"}`, 201)
	var gen view.LinkView
	if err := json.Unmarshal([]byte(body), &gen); err != nil || len(gen.Code) != catalog.GeneratedCodeLen {
		t.Fatalf("generated link %s (%v)", body, err)
	}
	if code, body := en.do("POST", "/v1/links", "cm-de", `{"code":"delta-spring","partnership":"ps-de-delta","direction":"inbound","url":"https://ours.example/"}`); code != 409 || errCode(t, body).Field != "code" {
		t.Fatalf("taken code: %d %s", code, body)
	}
	if code, body := en.do("POST", "/v1/links", "cm-de", `{"partnership":"ps-de-delta","direction":"outbound","url":"https://evil.example/"}`); code != 422 || errCode(t, body).Field != "url" {
		t.Fatalf("outbound link off the partner's domains: %d %s", code, body)
	}
	if codes := linkCodes(t, must("cm-de", "GET", "/v1/links?partnership=ps-de-delta", "", 200)); !slices.Equal(codes, sorted("delta-spring", gen.Code)) {
		t.Fatalf("links of ps-de-delta = %v", codes)
	}
	must("cm-de", "PATCH", "/v1/links/delta-spring", `{"status":"paused"}`, 200)
	if codes := linkCodes(t, must("cm-de", "GET", "/v1/links?status=paused", "", 200)); !slices.Equal(codes, []string{"delta-spring"}) {
		t.Fatalf("paused links = %v", codes)
	}
	must("cm-de", "PATCH", "/v1/links/delta-spring", `{"status":"active","expires_at":""}`, 200)
	must("cm-de", "PATCH", "/v1/partnerships/ps-de-delta", `{"direction":"both"}`, 200)

	// The QR code reads back as the tracking URL.
	r := httptestGet(t, en, "/v1/links/delta-spring/qr.png?size=300", "cm-de")
	if got := decodeQR(t, r); got != lv.TrackingURL {
		t.Fatalf("QR code reads %q, want %q", got, lv.TrackingURL)
	}
	if code, _ := en.do("GET", "/v1/links/delta-spring/qr.png?size=5000", "cm-de", ""); code != 400 {
		t.Fatalf("QR size 5000 = %d", code)
	}

	// The FR manager: 404 on every one of these, reads and writes alike,
	// and nothing of DE in its lists.
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/partners/delta", ""},
		{"PATCH", "/v1/partners/delta", `{"name":"x"}`},
		{"GET", "/v1/partnerships/ps-de-delta", ""},
		{"PATCH", "/v1/partnerships/ps-de-delta", `{"direction":"inbound"}`},
		{"GET", "/v1/partnerships/ps-de-delta/versions", ""},
		{"PUT", "/v1/partnerships/ps-de-delta/terms", termsBody("EUR")},
		{"PATCH", "/v1/partnerships/ps-de-delta/terms", `{"status":"paused"}`},
		{"GET", "/v1/links/delta-spring", ""},
		{"PATCH", "/v1/links/delta-spring", `{"status":"paused"}`},
		{"GET", "/v1/links/delta-spring/qr.png", ""},
		{"GET", "/v1/links/" + gen.Code, ""},
	} {
		if code, body := en.do(c.method, c.path, "cm-fr", c.body); code != 404 {
			t.Errorf("cm-fr %s %s = %d, want 404: %s", c.method, c.path, code, body)
		}
	}
	for _, path := range []string{"/v1/partners", "/v1/partnerships", "/v1/links", "/v1/links?country=DE", "/v1/audit", "/v1/audit?country=DE", "/v1/audit?entity_id=delta"} {
		body := must("cm-fr", "GET", path, "", 200)
		for _, leak := range []string{"delta", "Delta", gen.Code} {
			if strings.Contains(body, leak) {
				t.Errorf("cm-fr GET %s leaks %q: %s", path, leak, body)
			}
		}
	}
	// Creating in DE, or with DE's partner, is refused without naming it.
	if code, body := en.do("POST", "/v1/links", "cm-fr", `{"partnership":"ps-de-delta","direction":"inbound","url":"https://ours.example/"}`); code != 422 || errCode(t, body).Field != "partnership" {
		t.Errorf("cm-fr link into DE: %d %s", code, body)
	}
	if code, body := en.do("POST", "/v1/partnerships", "cm-fr", `{"id":"ps-fr-delta","partner":"delta","country":"FR","direction":"both"}`); code != 422 || errCode(t, body).Field != "partner" {
		t.Errorf("cm-fr partnership with DE's partner: %d %s", code, body)
	}
	if code, body := en.do("POST", "/v1/partnerships", "cm-fr", `{"id":"ps-de-x","partner":"bravo","country":"DE","direction":"both"}`); code != 422 || errCode(t, body).Field != "country" {
		t.Errorf("cm-fr partnership in DE: %d %s", code, body)
	}

	// Delta's own token: sees itself and its links only; may create links
	// only once the agreement allows it, and never change them.
	tok := must("admin", "POST", "/v1/tokens", `{"role":"partner","partner":"delta","name":"delta-api"}`, 201)
	var created CreatedToken
	if err := json.Unmarshal([]byte(tok), &created); err != nil {
		t.Fatal(err)
	}
	en.tokens["partner-d"] = created.Secret
	if ids, _ := itemIDs(t, must("partner-d", "GET", "/v1/partners", "", 200)); !slices.Equal(ids, []string{"delta"}) {
		t.Errorf("partner-d partners = %v", ids)
	}
	if codes := linkCodes(t, must("partner-d", "GET", "/v1/links", "", 200)); !slices.Equal(codes, sorted("delta-spring", gen.Code)) {
		t.Errorf("partner-d links = %v", codes)
	}
	for _, path := range []string{"/v1/partners/alpha", "/v1/partnerships/ps-de-alpha", "/v1/links/de-in"} {
		must("partner-d", "GET", path, "", 404)
	}
	if codes := linkCodes(t, must("partner-a", "GET", "/v1/links", "", 200)); slices.Contains(codes, "delta-spring") {
		t.Errorf("partner-a sees delta's links: %v", codes)
	}
	must("partner-a", "GET", "/v1/partners/delta", "", 404)
	linkBody := `{"partnership":"ps-de-delta","direction":"outbound","url":"https://delta.example/from-partner"}`
	must("partner-d", "POST", "/v1/links", linkBody, 403)
	must("cm-de", "PATCH", "/v1/partnerships/ps-de-delta/terms", `{"effective_from":"`+nextMonthStart+`","partner_may_create_links":true}`, 201)
	// Version 3 takes effect next month; today version 1 still forbids.
	must("partner-d", "POST", "/v1/links", linkBody, 403)
	must("cm-de", "PATCH", "/v1/partnerships/ps-de-delta/terms", `{"effective_from":"`+nextMonthStart+`","partner_may_create_links":false}`, 201)
	// An agreement that allows partner-made links from today on: not a
	// second one in DE (one per partner and country), one in AT.
	agreement := func(id, cc string) string {
		return `{"id":"` + id + `","partner":"delta","country":"` + cc + `","direction":"outbound",
 "terms":{"currency":"EUR","outbound_cpa":"1","partner_may_create_links":true}}`
	}
	must("cm-de", "POST", "/v1/partnerships", agreement("ps-de-delta2", "DE"), 409)
	must("admin", "POST", "/v1/partnerships", agreement("ps-at-delta2", "AT"), 201)
	body = must("partner-d", "POST", "/v1/links", `{"partnership":"ps-at-delta2","direction":"outbound","url":"https://delta.example/from-partner"}`, 201)
	var byPartner view.LinkView
	if err := json.Unmarshal([]byte(body), &byPartner); err != nil || byPartner.CreatedBy != "delta-api" {
		t.Fatalf("partner-made link: %s", body)
	}
	must("partner-d", "PATCH", "/v1/links/"+byPartner.Code, `{"status":"paused"}`, 403)
	must("partner-d", "POST", "/v1/partners", `{"id":"zulu","name":"Zulu"}`, 403)
	must("partner-d", "PATCH", "/v1/partners/delta", `{"name":"Delta"}`, 403)

	// Every change is in the audit log, with its actor; DE's manager reads
	// DE's entries, the admin all.
	var audit List[AuditView]
	if err := json.Unmarshal([]byte(must("admin", "GET", "/v1/audit?limit=1000", "", 200)), &audit); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range audit.Items {
		if e.Actor == "cm-de" || e.Actor == "delta-api" || (e.Actor == "admin" && e.Entity == "token") {
			count[e.Entity+"/"+e.Action]++
		}
	}
	want := map[string]int{
		"partner/create":        1,
		"partnership/create":    1,
		"partnership/set_terms": 4, // v1, v2, v3, v4 of ps-de-delta (ps-at-delta2 is the admin's)
		"link/create":           3,
		"link/update":           2,
		"token/create":          1,
	}
	// The direction PATCH (both to both) changed nothing: no entry.
	if !mapsEqual(count, want) {
		t.Errorf("audit counts = %v, want %v", count, want)
	}
	var deAudit List[AuditView]
	if err := json.Unmarshal([]byte(must("cm-de", "GET", "/v1/audit?limit=1000", "", 200)), &deAudit); err != nil {
		t.Fatal(err)
	}
	for _, e := range deAudit.Items {
		if e.Country != "DE" {
			t.Errorf("cm-de reads an entry filed under %q: %+v", e.Country, e)
		}
	}
	if len(deAudit.Items) < 12 {
		t.Errorf("cm-de reads %d audit entries, want its 12 or more", len(deAudit.Items))
	}
}

func sorted(s ...string) []string { slices.Sort(s); return s }

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func httptestGet(t *testing.T, en *env, path, who string) []byte {
	t.Helper()
	code, body := en.do("GET", path, who, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", path, code, body)
	}
	return []byte(body)
}

// decodeQR reads a QR code PNG with an independent decoder.
func decodeQR(t *testing.T, png []byte) string {
	t.Helper()
	img, format, err := image.Decode(bytes.NewReader(png))
	if err != nil || format != "png" {
		t.Fatalf("not a PNG (%s): %v", format, err)
	}
	if b := img.Bounds(); b.Dx() != 300 || b.Dy() != 300 {
		t.Fatalf("QR image is %dx%d, want 300x300", b.Dx(), b.Dy())
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decode QR: %v", err)
	}
	return res.GetText()
}
