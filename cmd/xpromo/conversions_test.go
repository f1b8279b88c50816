package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// conversionsClient returns a function that POSTs a body to s's
// /v1/conversions with a new service token, once the token is accepted
// (after one warm-up signup, user "warmup").
func conversionsClient(t *testing.T, s *server) func(body string) (int, string) {
	t.Helper()
	secret, _, err := auth.NewStore(pgOf(s.db).Pool).WithClock(testenv.Clock()).Create(context.Background(), auth.Spec{Role: access.RoleService, Name: "shop-backend"})
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, string) {
		t.Helper()
		return call(t, "POST", s.base+"/v1/conversions", secret, "application/json", body)
	}
	testenv.WaitFor(t, 10*time.Second, "service token accepted", func() bool {
		code, _ := post(`{"type":"signup","user_id":"warmup"}`)
		return code == 200
	})
	return post
}

// TestConversionsEndToEnd: clicks on a tracking link, then our product
// reports a signup, purchases, a repeat and a refund through the
// conversions API; they go through Redis and the ingester into ClickHouse;
// `xpromo fx load` and `xpromo attribute` then credit them to the
// partnership, in the reporting currency too.
func TestConversionsEndToEnd(t *testing.T) {
	s := startSeeded(t)
	db := s.db
	ctx := context.Background()
	post := conversionsClient(t, s)

	// A visitor clicks the inbound link; our landing page gets xp_click.
	click := clickID(t, get(t, noRedirect, "GET", s.base+"/r/demo", "8.8.8.8", browserUA))
	// A second visitor, with no click id later: matched by fingerprint
	// (same address and browser the same day).
	other := clickID(t, get(t, noRedirect, "GET", s.base+"/r/demo", "9.9.9.9", browserUA))

	// Whole seconds, as stored: not before the click's second. The day
	// attributed below is this one (a run across midnight stays right).
	nowT := testenv.Now().UTC()
	now := nowT.Format(time.RFC3339)
	tests := []struct {
		name, body string
		code       int
		duplicate  bool
	}{
		{"signup by click id", `{"type":"signup","user_id":"u1","click_id":"` + click + `","occurred_at":"` + now + `"}`, 200, false},
		{"purchase", `{"type":"purchase","user_id":"u1","order_id":"o1","amount":"20.00","currency":"EUR"}`, 200, false},
		{"the same order again", `{"type":"purchase","user_id":"u1","order_id":"o1","amount":"20.00","currency":"EUR"}`, 200, true},
		{"second signup of u1", `{"type":"signup","user_id":"u1"}`, 200, true},
		{"purchase in USD", `{"type":"purchase","user_id":"u1","order_id":"o2","amount":"11","currency":"usd"}`, 200, false},
		{"partial refund", `{"type":"refund","user_id":"u1","order_id":"o1","amount":"5","currency":"EUR"}`, 200, false},
		{"signup by fingerprint", `{"type":"signup","user_id":"u2","ip":"9.9.9.9","user_agent":"` + browserUA + `"}`, 200, false},
		{"no type", `{"user_id":"u3"}`, 422, false},
		{"purchase without order id", `{"type":"purchase","amount":"1","currency":"EUR"}`, 422, false},
		{"unknown field", `{"type":"signup","user_id":"u4","coupon":"x"}`, 422, false},
		{"not JSON", `{"type":`, 400, false},
	}
	ids := map[string]string{} // test name -> conversion id
	for _, tt := range tests {
		code, body := post(tt.body)
		if code != tt.code {
			t.Fatalf("%s: %d %s, want %d", tt.name, code, body, tt.code)
		}
		if code == 200 {
			var rec struct {
				ID        string `json:"id"`
				Duplicate bool   `json:"duplicate"`
			}
			if err := json.Unmarshal([]byte(body), &rec); err != nil || rec.ID == "" || rec.Duplicate != tt.duplicate {
				t.Fatalf("%s: %s, want duplicate %v", tt.name, body, tt.duplicate)
			}
			ids[tt.name] = rec.ID
		}
	}
	// A batch: the bad one is refused with its index, the rest recorded.
	code, body := post(`[{"type":"signup","user_id":"b1"},{"type":"refund"},{"type":"signup","user_id":"b2"}]`)
	var batch struct {
		Accepted, Refused int
		Results           []struct {
			Index int
			Error string
			Field string
		}
	}
	if err := json.Unmarshal([]byte(body), &batch); code != 200 || err != nil || batch.Accepted != 2 || batch.Refused != 1 ||
		batch.Results[1].Error != "validation" || batch.Results[1].Field != "order_id" {
		t.Fatalf("batch: %d %s", code, body)
	}

	// warmup + 7 accepted above + 2 of the batch, repeats included.
	waitCount(t, db, "conversions stored", 10, "SELECT count() FROM conversions")
	if n := count(t, db, "SELECT count() FROM conversions WHERE duplicate = 1"); n != 2 {
		t.Errorf("stored as duplicate: %d, want 2", n)
	}
	if n := count(t, db, "SELECT count() FROM hits WHERE fingerprint != '' AND id = ?", other); n != 1 {
		t.Errorf("the click carries no fingerprint")
	}

	// Rates for today: 1 EUR = 1.10 USD.
	fxLoad(t, db, "Date, USD, GBP, \n"+nowT.Format("02 January 2006")+", 1.1000, 0.8500, \n", "loaded 2 rates")
	day := nowT.Format(time.DateOnly)
	if code, out, errOut := cliRun(t, db, "attribute", "--from", day, "--to", day); code != 0 || !strings.Contains(out, "attributed 10 conversions") {
		t.Fatalf("attribute: %d %s %s", code, out, errOut)
	}
	type row struct {
		outcome, partnership, match string
		revenue, revRep             string
	}
	// Keyed by type, user and order; a repeat has the same key, so each
	// key holds its rows in outcome order. The copy answered as new is the
	// one credited, whatever the order of the two ids (GET below reads it).
	got := map[string][]row{}
	rows, err := db.Conn.Query(ctx, `SELECT concat(toString(type), ':', user_id, ':', order_id),
 toString(outcome), partnership, match, revenue, revenue_rep FROM attributions FINAL ORDER BY outcome`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var k string
		var rw row
		var rev, rep decimal.Decimal
		if err := rows.Scan(&k, &rw.outcome, &rw.partnership, &rw.match, &rev, &rep); err != nil {
			t.Fatal(err)
		}
		rw.revenue, rw.revRep = rev.String(), rep.Round(4).String()
		got[k] = append(got[k], rw)
		n++
	}
	want := map[string][]row{
		"signup:u1:":     {{"new_user", "acme-de", "click_id", "0", "0"}, {"duplicate", "", "", "0", "0"}},
		"purchase:u1:o1": {{"credited", "acme-de", "user", "20", "20"}, {"duplicate", "", "", "0", "0"}},
		"purchase:u1:o2": {{"credited", "acme-de", "user", "11", "10"}}, // 11 USD at 1.10
		"refund:u1:o1":   {{"credited", "acme-de", "user", "-5", "-5"}},
		"signup:u2:":     {{"new_user", "acme-de", "fingerprint", "0", "0"}},
		"signup:warmup:": {{"unattributed", "", "", "0", "0"}},
		"signup:b1:":     {{"unattributed", "", "", "0", "0"}},
		"signup:b2:":     {{"unattributed", "", "", "0", "0"}},
	}
	for k, w := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(w) {
			t.Errorf("%s: got %+v, want %+v", k, got[k], w)
		}
	}
	if n != 10 {
		t.Errorf("attributions: %d rows, want 10: %v", n, got)
	}
	// Each conversion's attribution is queryable, within the reader's scope.
	tokens := auth.NewStore(pgOf(db).Pool).WithClock(testenv.Clock())
	reader := map[string]string{}
	for name, spec := range map[string]auth.Spec{
		"cm-de": {Role: access.RoleCountryManager, Countries: []string{"DE"}}, "cm-fr": {Role: access.RoleCountryManager, Countries: []string{"FR"}},
		"acme": {Role: access.RolePartner, Partner: "acme"}, "service": {Role: access.RoleService},
	} {
		spec.Name = name
		sec, _, err := tokens.Create(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		reader[name] = sec
	}
	getConv := func(who, id string) (int, string) {
		return call(t, "GET", s.base+"/v1/conversions/"+id, reader[who], "", "")
	}
	// Every token, not one: the server may load them between two creations.
	testenv.WaitFor(t, 10*time.Second, "reader tokens loaded", func() bool {
		for who := range reader {
			if c, _ := getConv(who, ids["purchase"]); c == 401 {
				return false
			}
		}
		return true
	})
	for _, c := range []struct {
		who, conv string
		want      int
	}{
		{"cm-de", "purchase", 200}, {"acme", "purchase", 200}, {"cm-fr", "purchase", 404},
		{"service", "purchase", 403}, {"cm-de", "signup by click id", 200}, {"cm-de", "nope", 404},
	} {
		id := ids[c.conv]
		if id == "" {
			id = "01KB8ZQ0W6M5R2X4T7Y9A3C5E7"
		}
		code, body := getConv(c.who, id)
		if code != c.want {
			t.Errorf("GET /v1/conversions/%s as %s = %d, want %d: %s", c.conv, c.who, code, c.want, body)
		}
		if code == 200 && (!strings.Contains(body, `"partnership":"acme-de"`) || !strings.Contains(body, `"country":"DE"`)) {
			t.Errorf("%s as %s: %s", c.conv, c.who, body)
		}
	}

	// Running again changes nothing but the computation time.
	if code, _, errOut := cliRun(t, db, "attribute", "--from", day, "--to", day); code != 0 {
		t.Fatalf("attribute again: %s", errOut)
	}
	if n := count(t, db, "SELECT count() FROM attributions FINAL"); n != 10 {
		t.Errorf("after a second run: %d rows", n)
	}
}

// TestPixelOrderThenAPIAndWholeRefund: an order our page reported with the
// pixel, then by our backend through the API, is answered as a repeat
// (docs/CONVERSIONS.md); a refund sent without amount and currency refunds
// the whole order, in the order's currency.
func TestPixelOrderThenAPIAndWholeRefund(t *testing.T) {
	s := startSeeded(t)
	db, r := s.db, s.redis
	ctx := context.Background()
	post := conversionsClient(t, s)
	click := clickID(t, get(t, noRedirect, "GET", s.base+"/r/demo", "8.8.8.8", browserUA))
	if resp := get(t, http.DefaultClient, "GET", s.base+"/p.gif?e=purchase&oid=PX-1&v=30.00&cur=EUR&click="+click, "8.8.8.8", browserUA); resp.StatusCode != 200 {
		t.Fatalf("pixel purchase: %d", resp.StatusCode)
	}
	// The pixel answers without waiting on Redis; its mark follows.
	testenv.WaitFor(t, 10*time.Second, "the pixel's order remembered", func() bool {
		return r.Client.Exists(ctx, r.Prefix+"seen:ours:purchase:PX-1").Val() == 1
	})
	for _, tt := range []struct{ name, body, want string }{
		{"the pixel's order through the API", `{"type":"purchase","order_id":"PX-1","amount":"30.00","currency":"EUR"}`, `"duplicate":true`},
		{"refund of the whole order", `{"type":"refund","order_id":"PX-1"}`, `"duplicate":false`},
		{"partial refund needs a currency", `{"type":"refund","order_id":"PX-1","amount":"5"}`, `"field":"currency"`},
	} {
		if _, body := post(tt.body); !strings.Contains(body, tt.want) {
			t.Errorf("%s: %s, want %s", tt.name, body, tt.want)
		}
	}
	waitCount(t, db, "conversions stored", 3, "SELECT count() FROM conversions WHERE order_id = 'PX-1'")
	attributeToday(t, db)
	wantCounts(t, db, map[string]uint64{
		"SELECT count() FROM attributions FINAL WHERE outcome = 'credited' AND partnership = 'acme-de' AND revenue = 30":                       1,
		"SELECT count() FROM attributions FINAL WHERE outcome = 'credited' AND partnership = 'acme-de' AND revenue = -30 AND currency = 'EUR'": 1,
	})
}
