package api

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/schema"
)

// TestStatementsAPI: finance reads, closes and exports a month; the other
// roles read only their lines, and only finance and admin may close.
func TestStatementsAPI(t *testing.T) {
	en := setup(t) // ps-de-alpha and ps-fr-bravo: terms from 2026-09-01, EUR, inbound CPA 1
	ctx := context.Background()
	b, err := en.cat.Conn().PrepareBatch(ctx, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "outcome", "partnership", "partner", "country", "direction", "terms_version", "revenue", "currency", "computed_at", "version"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 10, 15, 12, 0, 0, 0, time.UTC)
	for i, ps := range []string{"ps-de-alpha", "ps-de-alpha", "ps-de-alpha", "ps-fr-bravo", "ps-fr-bravo"} {
		partner, cc := "alpha", "DE"
		if ps == "ps-fr-bravo" {
			partner, cc = "bravo", "FR"
		}
		if err := b.Append("c"+string(rune('a'+i)), at, "signup", "ours", "new_user", ps, partner, cc, "inbound", uint32(1), decimal.Zero, "", at, uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	get := func(who, path string) (int, string) {
		t.Helper()
		return en.do("GET", path, who, "")
	}
	for _, c := range []struct {
		who        string
		code       int
		has, hasnt []string
	}{
		{"finance", 200, []string{"ps-de-alpha", "ps-fr-bravo"}, nil},
		{"admin", 200, []string{"ps-de-alpha", "ps-fr-bravo"}, nil},
		{"cm-de", 200, []string{"ps-de-alpha"}, []string{"bravo"}},
		{"partner-b", 200, []string{"ps-fr-bravo"}, []string{"alpha"}},
		{"service", 403, nil, nil},
	} {
		code, body := get(c.who, "/v1/statements?period=2026-10")
		if code != c.code {
			t.Fatalf("%s: %d %s", c.who, code, body)
		}
		for _, s := range c.has {
			if !strings.Contains(body, s) {
				t.Errorf("%s: no %s in %s", c.who, s, body)
			}
		}
		for _, s := range c.hasnt {
			if strings.Contains(body, s) {
				t.Errorf("%s: sees %q: %s", c.who, s, body)
			}
		}
	}
	if code, _ := get("finance", "/v1/statements?period=October"); code != 400 {
		t.Errorf("bad period: %d", code)
	}
	for _, who := range []string{"cm-de", "partner-a", "service"} {
		if code, _ := en.do("POST", "/v1/statements/close?period=2026-10", who, ""); code != 403 {
			t.Errorf("%s closes: %d", who, code)
		}
	}
	if code, body := en.do("POST", "/v1/statements/close?period=2026-10", "finance", ""); code != 201 || !strings.Contains(body, `"closed"`) {
		t.Fatalf("close: %d %s", code, body)
	}
	if code, _ := en.do("POST", "/v1/statements/close?period=2026-10", "admin", ""); code != 409 {
		t.Errorf("close twice: %d", code)
	}
	for _, format := range []string{"csv", "xlsx", "json"} {
		export := func() (string, []byte) {
			r := httptest.NewRequest("GET", "/v1/exports/statements?period=2026-10&format="+format, nil)
			r.Header.Set("Authorization", "Bearer "+en.tokens["finance"])
			w := httptest.NewRecorder()
			en.e.ServeHTTP(w, r)
			if w.Code != 200 {
				t.Fatalf("export %s: %d %s", format, w.Code, w.Body.String())
			}
			return w.Header().Get("Content-Disposition"), w.Body.Bytes()
		}
		name1, body1 := export()
		name2, body2 := export()
		if !strings.Contains(name1, "2026-10") || !strings.Contains(name1, "."+format) || name1 != name2 || string(body1) != string(body2) {
			t.Errorf("%s: %q / %q, identical bytes %v", format, name1, name2, string(body1) == string(body2))
		}
	}
}
