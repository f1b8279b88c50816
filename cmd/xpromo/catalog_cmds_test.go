package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/xpromo/xpromo/app/admin"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// cliRun runs xpromo in this process, as main does, against db. The
// arguments go through exactly as given, in the order the docs print them:
// db's URL comes from XPROMO_CLICKHOUSE_URL, as from a user's environment,
// and its catalog's (pgOf) from XPROMO_POSTGRES_URL.
// (Appending --clickhouse-url after the arguments once hid that
// `fx load FILE.csv` failed without a flag after the file.)
func cliRun(t *testing.T, db *testenv.DB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if db != nil {
		t.Setenv("XPROMO_CLICKHOUSE_URL", db.URL)
		t.Setenv("XPROMO_POSTGRES_URL", pgOf(db).URL)
	}
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// cliStep is one command of a scenario and what it must print.
type cliStep struct {
	name    string
	args    []string
	code    int
	out     []string // substrings of stdout
	notOut  []string // strings stdout must not hold
	errText []string // substrings of stderr
}

func runSteps(t *testing.T, db *testenv.DB, steps []cliStep) {
	t.Helper()
	for _, s := range steps {
		code, out, errOut := cliRun(t, db, s.args...)
		if code != s.code {
			t.Fatalf("%s: xpromo %v: exit %d, want %d\nstdout: %s\nstderr: %s", s.name, s.args, code, s.code, out, errOut)
		}
		for _, w := range s.out {
			if !strings.Contains(out, w) {
				t.Errorf("%s: stdout lacks %q:\n%s", s.name, w, out)
			}
		}
		for _, w := range s.notOut {
			if strings.Contains(out, w) {
				t.Errorf("%s: stdout holds %q:\n%s", s.name, w, out)
			}
		}
		for _, w := range s.errText {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", s.name, w, errOut)
			}
		}
	}
}

func cliJSON[T any](t *testing.T, db *testenv.DB, args ...string) T {
	t.Helper()
	code, out, errOut := cliRun(t, db, append(args, "--json")...)
	var v T
	if code != 0 {
		t.Fatalf("xpromo %v: exit %d: %s", args, code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("xpromo %v --json: %v\n%s", args, err, out)
	}
	return v
}

func TestCatalogPartnerCommands(t *testing.T) {
	t.Setenv("USER", "tester")
	db := newDB(t)
	runSteps(t, db, []cliStep{
		{name: "add", args: []string{"partner", "add", "--id", "acme", "--name", "ACME", "--domains", "acme.example", "--countries", "de"},
			out: []string{"partner acme added (ACME, domains: acme.example, countries: DE)"}},
		{name: "add again", args: []string{"partner", "add", "--id", "acme", "--name", "ACME"}, code: 1,
			errText: []string{"xpromo partner add: ", "already exists"}},
		{name: "bad id", args: []string{"partner", "add", "--id", "ACME!", "--name", "x"}, code: 1,
			errText: []string{`xpromo partner add: --id: "ACME!" must be`}},
		{name: "bad domain", args: []string{"partner", "add", "--id", "x", "--name", "x", "--domains", "not a domain"}, code: 1,
			errText: []string{"xpromo partner add: --domains: "}},
		{name: "no name", args: []string{"partner", "add", "--id", "x"}, code: 2,
			errText: []string{"--name is required", "Usage: xpromo partner add"}},
		{name: "update name only", args: []string{"partner", "update", "--id", "acme", "--name", "ACME Deals"},
			out: []string{`partner acme updated: name: "ACME" -> "ACME Deals"`}, notOut: []string{"domains", "countries"}},
		{name: "update lists", args: []string{"partner", "update", "--id", "acme", "--domains", "acme.example,ACME.test", "--countries", "DE,fr"},
			out: []string{`countries: ["DE"] -> ["DE","FR"]`, `domains: ["acme.example"] -> ["acme.example","acme.test"]`}, notOut: []string{"name"}},
		{name: "update same", args: []string{"partner", "update", "--id", "acme", "--name", "ACME Deals"},
			out: []string{"partner acme unchanged"}},
		{name: "update nothing", args: []string{"partner", "update", "--id", "acme"}, code: 2,
			errText: []string{"nothing to change"}},
		{name: "update unknown", args: []string{"partner", "update", "--id", "nope", "--name", "x"}, code: 1,
			errText: []string{`xpromo partner update: partner "nope": not found`}},
		{name: "update bad country", args: []string{"partner", "update", "--id", "acme", "--countries", "XX"}, code: 1,
			errText: []string{"--countries: "}},
		{name: "show", args: []string{"partner", "show", "--id", "acme"},
			out: []string{"ACME Deals", "acme.example,acme.test", "DE,FR", "active"}},
		{name: "show unknown", args: []string{"partner", "show", "--id", "nope"}, code: 1,
			errText: []string{"not found"}},
		{name: "show without id", args: []string{"partner", "show"}, code: 2,
			errText: []string{"--id is required"}},
		{name: "add beta", args: []string{"partner", "add", "--id", "beta", "--name", "Beta"}, out: []string{"partner beta added"}},
		{name: "archive", args: []string{"partner", "archive", "--id", "beta"}, out: []string{"partner beta archived"}},
		{name: "archive again", args: []string{"partner", "archive", "--id", "beta"}, out: []string{"partner beta was already archived"}},
		{name: "list archived", args: []string{"partner", "list", "--status", "archived"}, out: []string{"beta"}, notOut: []string{"acme"}},
		{name: "list all", args: []string{"partner", "list"}, out: []string{"acme", "beta", "STATUS"}},
		{name: "list bad status", args: []string{"partner", "list", "--status", "gone"}, code: 1, errText: []string{"--status"}},
		{name: "partnership of archived partner", args: []string{"partnership", "add", "--id", "beta-de", "--partner", "beta", "--country", "DE"}, code: 1,
			errText: []string{"--partner: ", "archived"}},
		{name: "unarchive", args: []string{"partner", "update", "--id", "beta", "--status", "active"},
			out: []string{`status: "archived" -> "active"`}},
	})
	p := cliJSON[catalog.Partner](t, db, "partner", "show", "--id", "acme")
	if p.Name != "ACME Deals" || strings.Join(p.Domains, ",") != "acme.example,acme.test" || strings.Join(p.Countries, ",") != "DE,FR" || p.Status != "active" {
		t.Errorf("partner show --json = %+v", p)
	}
	ps := cliJSON[[]catalog.Partner](t, db, "partner", "list")
	if len(ps) != 2 {
		t.Errorf("partner list --json = %+v", ps)
	}
	// Only the changes are filed: the unchanged update and the second
	// archive wrote nothing.
	entries := cliJSON[[]admin.AuditView](t, db, "audit", "list", "--entity", "partner", "--entity-id", "acme")
	if len(entries) != 3 {
		t.Fatalf("audit of acme: %d entries, want 3 (create, 2 updates): %+v", len(entries), entries)
	}
	for _, e := range entries {
		if e.Actor != "cli:tester" {
			t.Errorf("audit actor %q, want cli:tester", e.Actor)
		}
	}
}

func TestCatalogPartnershipAndTermsCommands(t *testing.T) {
	t.Setenv("USER", "tester")
	db := newDB(t)
	runSteps(t, db, []cliStep{
		{name: "partner", args: []string{"partner", "add", "--id", "acme", "--name", "ACME", "--domains", "acme.example"}},
		{name: "add", args: []string{"partnership", "add", "--id", "acme-de", "--partner", "acme", "--country", "de", "--direction", "inbound"},
			out: []string{"partnership acme-de added (partner acme, DE, inbound)"}},
		{name: "add unknown partner", args: []string{"partnership", "add", "--id", "x-de", "--partner", "nope", "--country", "DE"}, code: 1,
			errText: []string{"xpromo partnership add: --partner: "}},
		{name: "add bad country", args: []string{"partnership", "add", "--id", "x-de", "--partner", "acme", "--country", "XX"}, code: 1,
			errText: []string{"--country: "}},
		// One partnership per partner and country, as through the API.
		{name: "add a second for the same partner and country", args: []string{"partnership", "add", "--id", "acme-de-2", "--partner", "acme", "--country", "DE", "--direction", "outbound"}, code: 1,
			errText: []string{`xpromo partnership add: partner "acme" already has partnership "acme-de" in DE`}},
		{name: "outbound money on an inbound partnership", args: []string{"partnership", "terms", "set", "--partnership", "acme-de", "--currency", "EUR", "--outbound-cpa", "1"}, code: 1,
			errText: []string{"xpromo partnership terms set: --outbound-cpa: ", "inbound only"}},
		{name: "update", args: []string{"partnership", "update", "--id", "acme-de", "--direction", "both"},
			out: []string{`partnership acme-de updated: direction: "inbound" -> "both"`}},
		{name: "update bad direction", args: []string{"partnership", "update", "--id", "acme-de", "--direction", "sideways"}, code: 1,
			errText: []string{"--direction: "}},
		{name: "update without direction", args: []string{"partnership", "update", "--id", "acme-de"}, code: 2,
			errText: []string{"--direction is required"}},
		{name: "terms without currency", args: []string{"partnership", "terms", "set", "--partnership", "acme-de"}, code: 1,
			errText: []string{"--currency: is required"}},
		{name: "terms of unknown partnership", args: []string{"partnership", "terms", "set", "--partnership", "nope", "--currency", "EUR"}, code: 1,
			errText: []string{"not found"}},
		{name: "terms v1", args: []string{"partnership", "terms", "set", "--partnership", "acme-de", "--effective-from", "2025-01-01",
			"--currency", "eur", "--inbound-cpa", "10.50", "--outbound-revshare-pct", "5", "--attribution-window-days", "14",
			"--target-inbound-users-month", "100", "--fallback-url", "https://www.example.com/sorry", "--partner-may-create-links"},
			out: []string{"partnership acme-de terms version 1 stored, effective from 2025-01-01 (active)"}},
		{name: "terms v2", args: []string{"partnership", "terms", "set", "--partnership", "acme-de", "--effective-from", "2025-06-01",
			"--status", "paused", "--inbound-cpa", "12"},
			out: []string{"partnership acme-de terms version 2 stored, effective from 2025-06-01 (paused)"}},
		{name: "terms retried", args: []string{"partnership", "terms", "set", "--partnership", "acme-de", "--effective-from", "2025-06-01", "--status", "paused"},
			out: []string{"terms unchanged (version 2"}},
		{name: "terms before the latest", args: []string{"partnership", "terms", "set", "--partnership", "acme-de", "--effective-from", "2025-03-01", "--status", "active"}, code: 1,
			errText: []string{"--effective-from: 2025-03-01 is before 2025-06-01"}},
		{name: "terms 5 decimals", args: []string{"partnership", "terms", "set", "--partnership", "acme-de", "--inbound-cpa", "1.23456"}, code: 1,
			errText: []string{"--inbound-cpa: 1.23456 has more than 4 decimals"}},
		{name: "terms not a number", args: []string{"partnership", "terms", "set", "--partnership", "acme-de", "--inbound-cpa", "ten"}, code: 1,
			errText: []string{`--inbound-cpa: "ten" is not a decimal number`}},
		{name: "terms bad window", args: []string{"partnership", "terms", "set", "--partnership", "acme-de", "--attribution-window-days", "-1"}, code: 1,
			errText: []string{"--attribution-window-days: "}},
		{name: "terms bad date", args: []string{"partnership", "terms", "set", "--partnership", "acme-de", "--effective-from", "1.6.2025"}, code: 1,
			errText: []string{"--effective-from: "}},
		{name: "terms bad model", args: []string{"partnership", "terms", "set", "--partnership", "acme-de", "--attribution-model", "linear"}, code: 1,
			errText: []string{"--attribution-model: "}},
		{name: "versions", args: []string{"partnership", "terms", "versions", "--partnership", "acme-de"},
			out: []string{"VERSION", "IN FORCE", "2025-01-01", "2025-06-01", "paused", "10.5", "cli:tester"}},
		{name: "versions unknown", args: []string{"partnership", "terms", "versions", "--partnership", "nope"}, code: 1,
			errText: []string{"not found"}},
		{name: "show", args: []string{"partnership", "show", "--id", "acme-de"},
			out: []string{"acme-de", "ACME", "both", "terms in force:  version 2", "Terms versions:"}},
		{name: "list", args: []string{"partnership", "list", "--partner", "acme"}, out: []string{"acme-de", "v2 paused"}, notOut: []string{"acme-de-2"}},
		{name: "list other country", args: []string{"partnership", "list", "--country", "fr"}, notOut: []string{"acme-de"}},
	})

	// The versions table: a header, then v1 and v2, v2 in force.
	_, out, _ := cliRun(t, db, "partnership", "terms", "versions", "--partnership", "acme-de")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "1 ") || !strings.HasPrefix(lines[2], "2 ") || !strings.Contains(lines[2], "*") || strings.Contains(lines[1], "*") {
		t.Fatalf("terms versions:\n%s", out)
	}

	vs := cliJSON[[]catalog.Terms](t, db, "partnership", "terms", "versions", "--partnership", "acme-de")
	if len(vs) != 2 {
		t.Fatalf("%d versions, want 2: %+v", len(vs), vs)
	}
	v1, v2 := vs[0], vs[1]
	if v1.Version != 1 || v1.Status != "active" || v1.InboundCPA.String() != "10.5" || v1.StartDate.Format("2006-01-02") != "2025-01-01" {
		t.Errorf("v1 = %+v", v1)
	}
	// v2 changes the status and the inbound CPA and inherits the rest.
	if v2.Version != 2 || v2.Status != "paused" || v2.InboundCPA.String() != "12" || v2.EffectiveFrom.Format("2006-01-02") != "2025-06-01" {
		t.Errorf("v2 = %+v", v2)
	}
	if v2.Currency != "EUR" || v2.OutboundRevSharePct.String() != "5" || v2.AttributionWindowDays != 14 || v2.TargetInboundUsersMonth != 100 ||
		v2.FallbackURL != "https://www.example.com/sorry" || !v2.PartnerMayCreateLinks || v2.StartDate.Format("2006-01-02") != "2025-01-01" ||
		v2.AttributionModel != "last_click" || v2.CreatedBy != "cli:tester" {
		t.Errorf("v2 did not inherit v1's other fields: %+v", v2)
	}

	// Turning a flag off, and ending the agreement, from a later date.
	runSteps(t, db, []cliStep{
		{name: "terms v3", args: []string{"partnership", "terms", "set", "--partnership", "acme-de", "--effective-from", "2025-09-01",
			"--partner-may-create-links=false", "--end-date", "2026-12-31", "--fallback-url", ""},
			out: []string{"version 3 stored"}},
	})
	show := cliJSON[admin.PartnershipView](t, db, "partnership", "show", "--id", "acme-de")
	if len(show.Terms) != 3 || show.TermsInForce != 3 || show.Direction != "both" {
		t.Fatalf("partnership show --json = %+v", show)
	}
	if v3 := show.Terms[2]; v3.PartnerMayCreateLinks || v3.FallbackURL != "" || v3.EndDate.Format("2006-01-02") != "2026-12-31" || v3.Status != "paused" || v3.InboundCPA.String() != "12" {
		t.Errorf("v3 = %+v", v3)
	}

	entries := cliJSON[[]admin.AuditView](t, db, "audit", "list", "--entity", "partnership", "--entity-id", "acme-de")
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
		if e.Actor != "cli:tester" || e.Country != "DE" {
			t.Errorf("audit entry %+v", e)
		}
	}
	// Newest first: 3 terms versions, the direction change, the creation.
	if got := strings.Join(actions, ","); got != "set_terms,set_terms,set_terms,update,create" {
		t.Errorf("audit actions = %s", got)
	}
	_, out, _ = cliRun(t, db, "audit", "list", "--entity", "partnership")
	if !strings.Contains(out, `status: "active" -> "paused"`) || !strings.Contains(out, `direction: "inbound" -> "both"`) || !strings.Contains(out, "version: 1 -> 2") {
		t.Errorf("audit table does not show the changes:\n%s", out)
	}
}

var addedLinkRe = regexp.MustCompile(`^link ([a-z2-9]{8}) added: https://t\.example/r/([a-z2-9]{8}) -> https://shop\.acme\.example/offer\n$`)

func TestCatalogLinkCommands(t *testing.T) {
	t.Setenv("USER", "tester")
	t.Setenv("XPROMO_PUBLIC_URL", "https://t.example/")
	db := newDB(t)
	runSteps(t, db, []cliStep{
		{name: "partner", args: []string{"partner", "add", "--id", "acme", "--name", "ACME", "--domains", "acme.example"}},
		{name: "partnership", args: []string{"partnership", "add", "--id", "acme-de", "--partner", "acme", "--country", "DE"}},
		{name: "partnership 2", args: []string{"partnership", "add", "--id", "acme-fr", "--partner", "acme", "--country", "FR"}},
	})
	code, out, errOut := cliRun(t, db, "link", "add", "--partnership", "acme-de", "--direction", "outbound", "--url", "https://shop.acme.example/offer")
	m := addedLinkRe.FindStringSubmatch(out)
	if code != 0 || m == nil || m[1] != m[2] {
		t.Fatalf("link add with a generated code: exit %d, %q %s", code, out, errOut)
	}
	gen := m[1]

	runSteps(t, db, []cliStep{
		{name: "vanity", args: []string{"link", "add", "--code", "Promo", "--partnership", "acme-de", "--direction", "inbound",
			"--url", "https://www.example.com/", "--campaign", "spring", "--expires", "2030-01-01", "--public-url", "http://localhost:9/"},
			out: []string{"link Promo added: http://localhost:9/r/Promo -> https://www.example.com/"}},
		{name: "taken", args: []string{"link", "add", "--code", "Promo", "--partnership", "acme-de", "--direction", "inbound", "--url", "https://www.example.com/"}, code: 1,
			errText: []string{"already exists"}},
		{name: "outbound elsewhere", args: []string{"link", "add", "--partnership", "acme-de", "--direction", "outbound", "--url", "https://evil.example/"}, code: 1,
			errText: []string{"xpromo link add: --url: "}},
		{name: "bad expiry", args: []string{"link", "add", "--partnership", "acme-de", "--direction", "inbound", "--url", "https://www.example.com/", "--expires", "soon"}, code: 1,
			errText: []string{"--expires: "}},
		{name: "no url", args: []string{"link", "add", "--partnership", "acme-de", "--direction", "inbound"}, code: 2,
			errText: []string{"--url is required"}},
		{name: "fr link", args: []string{"link", "add", "--code", "fr1", "--partnership", "acme-fr", "--direction", "inbound", "--url", "https://www.example.com/fr"}},
		{name: "update campaign and expiry", args: []string{"link", "update", "--code", "Promo", "--campaign", "summer", "--expires", ""},
			out: []string{`campaign: "spring" -> "summer"`, `expires_at: "2030-01-01T00:00:00Z" -> (none)`}, notOut: []string{"url:"}},
		{name: "update url", args: []string{"link", "update", "--code", "Promo", "--url", "https://www.example.com/new?x={click_id}"},
			out: []string{"url: "}, notOut: []string{"campaign"}},
		{name: "update expiry RFC 3339", args: []string{"link", "update", "--code", "Promo", "--expires", "2031-02-03T04:05:06+01:00"},
			out: []string{`"2031-02-03T03:05:06Z"`}},
		{name: "update nothing", args: []string{"link", "update", "--code", "Promo"}, code: 2, errText: []string{"nothing to change"}},
		{name: "update unknown", args: []string{"link", "update", "--code", "nope", "--campaign", "x"}, code: 1, errText: []string{`link "nope": not found`}},
		{name: "pause", args: []string{"link", "pause", "--code", gen}, out: []string{"link " + gen + " paused (was active)"}},
		{name: "pause again", args: []string{"link", "pause", "--code", gen}, out: []string{"is already paused"}},
		{name: "resume", args: []string{"link", "resume", "--code", gen}, out: []string{"link " + gen + " active (was paused)"}},
		{name: "archive", args: []string{"link", "archive", "--code", gen}, out: []string{"link " + gen + " archived (was active)"}},
		{name: "pause unknown", args: []string{"link", "pause", "--code", "nope"}, code: 1, errText: []string{"not found"}},
		{name: "show", args: []string{"link", "show", "--code", "Promo"},
			out: []string{"tracking url:  https://t.example/r/Promo", "summer", "2031-02-03T03:05:06Z", "created by:    cli:tester"}},
		{name: "list archived", args: []string{"link", "list", "--status", "archived"}, out: []string{gen}, notOut: []string{"Promo", "fr1"}},
		{name: "list active", args: []string{"link", "list", "--status", "active"}, out: []string{"Promo", "fr1"}, notOut: []string{gen}},
		{name: "list partnership", args: []string{"link", "list", "--partnership", "acme-fr"}, out: []string{"fr1"}, notOut: []string{"Promo", gen}},
		{name: "list bad status", args: []string{"link", "list", "--status", "dead"}, code: 1, errText: []string{"--status: "}},
	})

	l := cliJSON[admin.LinkView](t, db, "link", "show", "--code", "Promo")
	if l.Status != "active" || l.Campaign != "summer" || l.URL != "https://www.example.com/new?x={click_id}" || l.TrackingURL != "https://t.example/r/Promo" || l.ExpiresAt.Format("2006-01-02T15:04:05") != "2031-02-03T03:05:06" {
		t.Errorf("link show --json = %+v", l)
	}
	ls := cliJSON[[]catalog.Link](t, db, "link", "list", "--partnership", "acme-de")
	if len(ls) != 2 {
		t.Errorf("link list --partnership acme-de: %+v", ls)
	}

	// The audit log has every change, newest first, and filters.
	entries := cliJSON[[]admin.AuditView](t, db, "audit", "list", "--entity", "link", "--entity-id", gen, "--actor", "cli:tester")
	var statuses []string
	for _, e := range entries {
		var after catalog.Link
		if err := json.Unmarshal(e.After, &after); err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, e.Action+":"+after.Status)
	}
	if got := strings.Join(statuses, ","); got != "update:archived,update:active,update:paused,create:active" {
		t.Errorf("audit of %s: %s", gen, got)
	}
	if got := cliJSON[[]admin.AuditView](t, db, "audit", "list", "--entity", "link", "--limit", "2"); len(got) != 2 {
		t.Errorf("--limit 2: %d entries", len(got))
	}
	if got := cliJSON[[]admin.AuditView](t, db, "audit", "list", "--actor", "someone-else"); len(got) != 0 {
		t.Errorf("--actor someone-else: %d entries", len(got))
	}
	if got := cliJSON[[]admin.AuditView](t, db, "audit", "list", "--to", "2000-01-01"); len(got) != 0 {
		t.Errorf("--to 2000-01-01: %d entries", len(got))
	}
	// 6 creations (acme, acme-de, acme-fr, gen, Promo, fr1), 3 updates of
	// Promo and 3 status changes of gen.
	if all := cliJSON[[]admin.AuditView](t, db, "audit", "list", "--from", "2000-01-01", "--to", "2105-01-01"); len(all) != 12 {
		t.Errorf("audit list --from 2000-01-01: %d entries, want 12", len(all))
	}
	runSteps(t, db, []cliStep{
		{name: "audit table", args: []string{"audit", "list", "--entity-id", "Promo"},
			out: []string{"TIME", "cli:tester", "update", "link", "Promo", "DE", `campaign: "spring" -> "summer"`, "created"}},
		{name: "audit bad from", args: []string{"audit", "list", "--from", "last week"}, code: 1, errText: []string{"--from: "}},
		{name: "audit bad limit", args: []string{"audit", "list", "--limit", "0"}, code: 1, errText: []string{"--limit: "}},
		{name: "audit backwards", args: []string{"audit", "list", "--from", "2025-02-01", "--to", "2025-01-01"}, code: 1, errText: []string{"--to: "}},
	})
}

// Token creation and revocation are filed in the audit log, never with
// the secret.
func TestTokenCommandsAudit(t *testing.T) {
	t.Setenv("USER", "tester")
	db := newDB(t)
	code, out, errOut := cliRun(t, db, "token", "create", "--role", "country_manager", "--country", "DE", "--name", "DE team")
	if code != 0 {
		t.Fatalf("token create: exit %d: %s", code, errOut)
	}
	secret := strings.TrimSpace(out)
	m := regexp.MustCompile(`token ([a-z2-7]{12}) created`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("token create stderr: %s", errOut)
	}
	id := m[1]
	if code, _, errOut := cliRun(t, db, "token", "revoke", "--id", id); code != 0 {
		t.Fatalf("token revoke: exit %d: %s", code, errOut)
	}
	// Revoking again changes nothing and files nothing.
	if code, out, _ := cliRun(t, db, "token", "revoke", "--id", id); code != 0 || !strings.Contains(out, "already revoked") {
		t.Fatalf("second revoke: exit %d: %s", code, out)
	}

	code, out, _ = cliRun(t, db, "audit", "list", "--entity", "token", "--json")
	if code != 0 {
		t.Fatal("audit list failed")
	}
	if strings.Contains(out, secret) || strings.Contains(out, secret[len(auth.Prefix)+auth.IDLen+1:]) || strings.Contains(out, "hash") {
		t.Fatalf("the audit log holds the token's secret:\n%s", out)
	}
	var entries []admin.AuditView
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("%d token audit entries, want 2: %s", len(entries), out)
	}
	rev, cre := entries[0], entries[1]
	if cre.Action != "create" || cre.Entity != "token" || cre.EntityID != id || cre.Actor != "cli:tester" || cre.Country != "" || cre.Before != nil {
		t.Errorf("create entry = %+v", cre)
	}
	var created, before, after map[string]any
	for _, x := range []struct {
		raw json.RawMessage
		v   *map[string]any
	}{{cre.After, &created}, {rev.Before, &before}, {rev.After, &after}} {
		if err := json.Unmarshal(x.raw, x.v); err != nil {
			t.Fatalf("%s: %v", x.raw, err)
		}
	}
	if created["id"] != id || created["role"] != "country_manager" || created["created_by"] != "cli:tester" || created["revoked_at"] != nil {
		t.Errorf("create entry after = %v", created)
	}
	if rev.Action != "revoke" || rev.EntityID != id || rev.Actor != "cli:tester" || rev.Country != "" {
		t.Errorf("revoke entry = %+v", rev)
	}
	if before["revoked_at"] != nil || after["revoked_at"] == nil || after["revoked_by"] != "cli:tester" || before["name"] != "DE team" {
		t.Errorf("revoke entry before %v, after %v", before, after)
	}
	_, out, _ = cliRun(t, db, "audit", "list", "--entity", "token")
	if !strings.Contains(out, "revoked_by: (none) -> \"cli:tester\"") {
		t.Errorf("audit table:\n%s", out)
	}
}

func TestCatalogHelp(t *testing.T) {
	tests := [][]string{
		{"partner"}, {"partner", "add"}, {"partner", "update"}, {"partner", "archive"}, {"partner", "show"}, {"partner", "list"},
		{"partnership"}, {"partnership", "add"}, {"partnership", "update"}, {"partnership", "show"}, {"partnership", "list"},
		{"partnership", "terms"}, {"partnership", "terms", "set"}, {"partnership", "terms", "versions"},
		{"link"}, {"link", "add"}, {"link", "update"}, {"link", "pause"}, {"link", "resume"}, {"link", "archive"}, {"link", "show"}, {"link", "list"},
		{"audit"}, {"audit", "list"},
	}
	for _, path := range tests {
		for _, h := range []string{"--help", "-h"} {
			args := append(append([]string(nil), path...), h)
			code, out, errOut := cliRun(t, nil, args...)
			if code != 0 {
				t.Errorf("xpromo %v: exit %d", args, code)
			}
			want := "Usage: xpromo " + strings.Join(path, " ") + " "
			if !strings.HasPrefix(errOut, want) || out != "" {
				t.Errorf("xpromo %v: stderr %q, stdout %q; want %q first", args, errOut, out, want)
			}
		}
	}
	// The flags each command documents.
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"partner", "add"}, []string{"-id", "-name", "-domains", "-countries", "-clickhouse-url"}},
		{[]string{"partner", "update"}, []string{"-id", "-name", "-domains", "-countries", "-status"}},
		{[]string{"partnership", "terms", "set"}, []string{"-partnership", "-effective-from", "-currency", "-inbound-cpa", "-inbound-revshare-pct",
			"-outbound-cpa", "-outbound-revshare-pct", "-attribution-model", "-attribution-window-days", "-inbound-revenue-window-days",
			"-outbound-revenue-window-days", "-target-inbound-users-month", "-target-outbound-users-month", "-start-date", "-end-date",
			"-status", "-fallback-url", "-partner-may-create-links"}},
		{[]string{"partnership", "terms", "versions"}, []string{"-partnership", "-json", "-format"}},
		{[]string{"link", "add"}, []string{"-code", "-partnership", "-direction", "-url", "-campaign", "-expires", "XPROMO_PUBLIC_URL"}},
		{[]string{"link", "update"}, []string{"-code", "-url", "-campaign", "-expires"}},
		{[]string{"link", "list"}, []string{"-partnership", "-status", "-json"}},
		{[]string{"audit", "list"}, []string{"-entity", "-entity-id", "-actor", "-from", "-to", "-limit", "-json"}},
		{[]string{"partnership"}, []string{"terms", "update", "show"}},
		{[]string{"link"}, []string{"pause", "resume", "archive", "update", "show"}},
	} {
		_, _, errOut := cliRun(t, nil, append(c.args, "--help")...)
		for _, w := range c.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v --help does not mention %s:\n%s", c.args, w, errOut)
			}
		}
	}
	var out bytes.Buffer
	if code := run([]string{"--help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "audit") {
		t.Errorf("xpromo --help does not list audit:\n%s", out.String())
	}
	if code, _, errOut := cliRun(t, nil, "link", "frob"); code != 2 || !strings.Contains(errOut, "unknown subcommand") {
		t.Errorf("link frob: exit %d, %s", code, errOut)
	}
	if code, _, _ := cliRun(t, nil, "partnership", "terms"); code != 2 {
		t.Errorf("partnership terms with no subcommand: exit %d", code)
	}
}

// The real binary (re-executed as in TestMain) exits 2 for usage errors and
// 1 for refused values, with the flag named in the message.
func TestCatalogExitCodes(t *testing.T) {
	db := newDB(t)
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"partner", "add", "--id", "x"}, 2, "--name is required"},
		{[]string{"partner", "add", "--id", "x", "--name", "x", "--no-such-flag"}, 2, "flag provided but not defined"},
		{[]string{"link", "update", "--code", "x"}, 2, "nothing to change"},
		{[]string{"audit", "frob"}, 2, "unknown subcommand"},
		{[]string{"partner", "add", "--id", "x", "--name", "x", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"partner", "add", "--id", "BAD", "--name", "x"}, 1, `xpromo partner add: --id: "BAD" must be`},
		{[]string{"partnership", "terms", "set", "--partnership", "nope", "--currency", "EUR"}, 1, "xpromo partnership terms set: partnership \"nope\": not found"},
		{[]string{"link", "add", "--partnership", "nope", "--direction", "up", "--url", "https://x.example/"}, 1, "xpromo link add: --direction: "},
		{[]string{"audit", "list", "--limit", "100000"}, 1, "xpromo audit list: --limit: 100000 must be 1-10000"},
	} {
		cmd := exec.Command(os.Args[0], tt.args...)
		cmd.Env = append(os.Environ(), "XPROMO_TEST_MAIN=1", "XPROMO_CLICKHOUSE_URL="+db.URL, "XPROMO_POSTGRES_URL="+pgOf(db).URL)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != tt.code {
			t.Errorf("xpromo %v: %v, want exit %d\n%s", tt.args, err, tt.code, stderr.String())
			continue
		}
		if !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("xpromo %v: stderr lacks %q:\n%s", tt.args, tt.stderr, stderr.String())
		}
	}
}
