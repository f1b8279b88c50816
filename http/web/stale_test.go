package web

import (
	"html"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/xpromo/xpromo/domain/catalog"
)

// TestStaleForms: a form made from a version someone else changed since
// is refused with "changed by someone else", shows the stored values (not
// what was posted) and writes nothing.
func TestStaleForms(t *testing.T) {
	en := setup(t)
	ctx := t.Context()
	b := en.signedIn("admin")

	// Terms: the page was read at version n; someone adds n+1 (GBP).
	vs, err := en.cat.TermsVersions(ctx, "ps-de-alpha")
	if err != nil || len(vs) == 0 {
		t.Fatalf("seeded terms: %v, %v", vs, err)
	}
	read := vs[len(vs)-1]
	_, page := b.get("/app/partnerships/ps-de-alpha")
	if want := `name="version" value="` + strconv.Itoa(int(read.Version)) + `"`; !strings.Contains(page, want) {
		t.Fatalf("the terms form carries no %s", want)
	}
	theirs := read
	theirs.Currency, theirs.Version = "GBP", 0
	if _, err := en.cat.SetTerms(ctx, "ps-de-alpha", theirs, "someone"); err != nil {
		t.Fatal(err)
	}
	audits := en.auditCount()
	resp, body := b.post("/app/partnerships/ps-de-alpha/terms", url.Values{"form": {"new-terms"}, "currency": {"USD"},
		"version": {strconv.Itoa(int(read.Version))}})
	if resp.StatusCode != 409 || !strings.Contains(html.UnescapeString(body), "changed by someone else") {
		t.Errorf("stale terms form: %d, want 409 saying \"changed by someone else\"", resp.StatusCode)
	}
	if !strings.Contains(body, `name="currency" required maxlength="3" value="GBP"`) || strings.Contains(body, `value="USD"`) {
		t.Errorf("stale terms form shown again without the stored currency GBP")
	}
	if vs, _ := en.cat.TermsVersions(ctx, "ps-de-alpha"); vs[len(vs)-1].Currency != "GBP" || len(vs) != int(read.Version)+1 {
		t.Errorf("terms after a stale form: %d versions, latest %s; want theirs (GBP) latest", len(vs), vs[len(vs)-1].Currency)
	}

	// A link's status button made from version 1, after someone's change.
	campaign := "theirs"
	if l, err := en.cat.UpdateLink(ctx, "de-in", catalog.LinkChange{Campaign: &campaign}, "someone"); err != nil || l.Version != 2 {
		t.Fatalf("UpdateLink: %+v, %v", l, err)
	}
	resp, body = b.post("/app/links/de-in/status", url.Values{"status": {"paused"}, "version": {"1"}, "return": {"/app/partnerships/ps-de-alpha"}})
	if resp.StatusCode != 409 || !strings.Contains(html.UnescapeString(body), "changed by someone else") {
		t.Errorf("stale link button: %d, want 409 saying \"changed by someone else\"", resp.StatusCode)
	}
	snap, err := en.cat.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := snap.Links.Get("de-in"); l.Status != catalog.StatusActive || l.Version != 2 {
		t.Errorf("link after a stale button: %s at version %d, want active at 2", l.Status, l.Version)
	}
	if n := en.auditCount(); n != audits+1 {
		t.Errorf("%d audit entries after stale forms, want %d (someone's link change only)", n, audits+1)
	}
	if resp, _ := b.post("/app/links/de-in/status", url.Values{"status": {"paused"}, "version": {"2"}, "return": {"/app/partnerships/ps-de-alpha"}}); resp.StatusCode != 303 {
		t.Errorf("link button from the current version: %d, want 303", resp.StatusCode)
	}
}
