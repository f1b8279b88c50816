package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestReportsScoping: every reader gets the report of its own scope, and
// filters narrow it, never widen it.
func TestReportsScoping(t *testing.T) {
	en := setup(t)
	day := testenv.Now().UTC().Truncate(time.Hour)
	en.insertHits(t,
		testHit{"ha", day, "click", "ps-de-alpha", "alpha", "v"},
		testHit{"hb", day, "click", "ps-de-alpha", "alpha", "v"},
		testHit{"hc", day, "click", "ps-fr-bravo", "bravo", "v"})
	today := day.Format(time.DateOnly)
	report := func(who, query string) (int, []string) {
		t.Helper()
		code, body := en.do("GET", "/v1/reports/partnerships?from="+today+"&to="+today+query, who, "")
		if code != 200 {
			return code, nil
		}
		var out struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		var ps []string
		for _, it := range out.Items {
			ps = append(ps, it["partnership"].(string))
			if strings.Contains(body, "Werbung") || strings.Contains(body, "Publicite") {
				t.Errorf("report shows a partner's name: %s", body)
			}
		}
		return code, ps
	}
	for _, c := range []struct {
		who, query string
		code       int
		want       string
	}{
		{"admin", "", 200, "ps-de-alpha,ps-fr-bravo"},
		{"finance", "", 200, "ps-de-alpha,ps-fr-bravo"},
		{"cm-de", "", 200, "ps-de-alpha"},
		{"cm-de", "&country=FR", 200, ""},
		{"cm-fr", "", 200, "ps-fr-bravo"},
		{"partner-a", "", 200, "ps-de-alpha"},
		{"partner-a", "&partner=bravo", 200, ""},
		{"partner-b", "&partnership=ps-de-alpha", 200, ""},
		{"admin", "&country=FR", 200, "ps-fr-bravo"},
		{"service", "", 403, ""},
		{"admin", "&granularity=hour", 400, ""},
	} {
		code, ps := report(c.who, c.query)
		if code != c.code || strings.Join(ps, ",") != c.want {
			t.Errorf("%s %s: %d %v, want %d %q", c.who, c.query, code, ps, c.code, c.want)
		}
	}
	code, body := en.do("GET", "/v1/reports/partnerships?from="+today+"&to="+today+"&format=csv", "cm-de", "")
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if code != 200 || err != nil || len(recs) != 2 || recs[0][1] != "partnership" || recs[1][1] != "ps-de-alpha" || recs[1][6] != "2" {
		t.Fatalf("csv: %d %v %q", code, err, body)
	}
	for _, c := range []struct {
		who, query string
		code       int
	}{
		{"cm-de", "&partnership=ps-de-alpha&by=link", 200},
		{"partner-a", "&partnership=ps-de-alpha&by=device", 200},
		{"cm-fr", "&partnership=ps-de-alpha&by=link", 404},
		{"partner-b", "&partnership=ps-de-alpha&by=link", 404},
		{"admin", "&by=link", 400},
		{"admin", "&partnership=ps-de-alpha&by=color", 400},
	} {
		if code, body := en.do("GET", "/v1/reports/breakdown?from="+today+"&to="+today+c.query, c.who, ""); code != c.code {
			t.Errorf("breakdown %s %s: %d, want %d: %s", c.who, c.query, code, c.code, body)
		}
	}
	if code, body := en.do("GET", "/v1/reports/quality?from="+today+"&to="+today, "cm-fr", ""); code != 200 || strings.Contains(body, "alpha") {
		t.Errorf("quality as cm-fr: %d %s", code, body)
	}
	if code, _ := en.do("GET", "/v1/reports/nope", "admin", ""); code != 404 {
		t.Errorf("unknown report: %d", code)
	}
}

// TestConversionScope: a conversion's attribution is shown within the
// reader's scope only, with overlapping partnerships outside it masked, and
// unattributed conversions only to unrestricted readers.
func TestConversionScope(t *testing.T) {
	en := setup(t)
	ctx := context.Background()
	b, err := en.cat.Conn().PrepareBatch(ctx, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "outcome", "partnership", "partner", "country", "direction", "overlaps", "computed_at", "version"))
	if err != nil {
		t.Fatal(err)
	}
	at := testenv.Now().UTC().Truncate(time.Second)
	if err := b.Append("won", at, "signup", "ours", "new_user", "ps-de-alpha", "alpha", "DE", "inbound", []string{"ps-fr-bravo"}, at, uint64(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Append("organic", at, "signup", "ours", "unattributed", "", "", "DE", "none", []string{}, at, uint64(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		who, conv string
		code      int
		has, not  string
	}{
		{"admin", "won", 200, `"overlaps":["ps-fr-bravo"]`, ""},
		{"cm-de", "won", 200, `"overlaps":["other (out of scope)"]`, "bravo"},
		{"partner-a", "won", 200, `"overlaps":["other (out of scope)"]`, "bravo"},
		{"cm-fr", "won", 404, "", ""},
		{"finance", "organic", 200, `"outcome":"unattributed"`, ""},
		{"cm-de", "organic", 404, "", ""},
	} {
		code, body := en.do("GET", "/v1/conversions/"+c.conv, c.who, "")
		if code != c.code || !strings.Contains(body, c.has) || (c.not != "" && strings.Contains(body, c.not)) {
			t.Errorf("%s %s: %d %s", c.who, c.conv, code, body)
		}
	}
}
