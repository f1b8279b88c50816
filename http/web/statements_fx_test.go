package web

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/schema"
)

// TestStatementsMissingFXRates: finance has October's draft open when a
// credited USD purchase (terms in EUR) lands for a day with no ECB rate.
// The statements page and the close form answer the error naming the
// currency-day (409, not 500) and nothing is closed; once the rate is
// loaded the same close goes through.
func TestStatementsMissingFXRates(t *testing.T) {
	en := setup(t)
	ctx := context.Background()
	const period = "2026-10"
	b := en.signedIn("finance")
	resp, page := b.get("/app/statements?period=" + period)
	if resp.StatusCode != 200 || !strings.Contains(page, `<form id="close-period" method="post"`) {
		t.Fatalf("draft before the USD purchase: %d %s", resp.StatusCode, page)
	}
	csrf := csrfOf(t, page)

	ab, err := en.db.Conn.PrepareBatch(ctx, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "outcome", "partnership", "partner", "country", "direction", "terms_version", "revenue", "currency", "computed_at", "version"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 10, 5, 10, 0, 0, 0, time.UTC)
	if err := ab.Append("usd1", at, "purchase", "ours", "credited", "ps-de-alpha", "alpha", "DE", "inbound", uint32(1),
		decimal.RequireFromString("870.81"), "USD", at, uint64(1)); err != nil {
		t.Fatal(err)
	}
	if err := ab.Send(); err != nil {
		t.Fatal(err)
	}
	const missing = "missing ECB rates: no ECB rate (on the day or up to 7 days before) for USD on 2026-10-05; " +
		"load the rates (xpromo fx load FILE) and try again"

	resp, page = b.get("/app/statements?period=" + period)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(html.UnescapeString(page), missing) {
		t.Errorf("statements page without the USD rate: %d, want 409 showing %q:\n%s", resp.StatusCode, missing, page)
	}
	resp, page = b.get("/app/statements/export?period=" + period + "&format=csv")
	if resp.StatusCode != http.StatusConflict || !strings.Contains(html.UnescapeString(page), missing) {
		t.Errorf("export without the USD rate: %d, want 409 showing %q:\n%s", resp.StatusCode, missing, page)
	}
	resp, page = b.do("POST", "/app/statements/close", url.Values{"csrf": {csrf}, "period": {period}}, nil)
	// The close form's text wraps the error ("close statement 2026-10: ...").
	if resp.StatusCode != http.StatusConflict || !strings.Contains(page, "The period cannot be closed yet: ") ||
		!strings.Contains(html.UnescapeString(page), missing) {
		t.Errorf("close without the USD rate: %d, want 409 showing %q:\n%s", resp.StatusCode, missing, page)
	}
	if strings.Contains(page, "alpha") {
		t.Errorf("the refused close names the partner:\n%s", page)
	}
	var n uint64
	if err := en.db.Conn.QueryRow(ctx, "SELECT count() FROM statements").Scan(&n); err != nil || n != 0 {
		t.Fatalf("a refused close stored %d statements (%v)", n, err)
	}
	if err := en.db.Conn.QueryRow(ctx, "SELECT count() FROM audit_log WHERE entity = 'statement'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("a refused close audited %d times (%v)", n, err)
	}

	if _, err := fx.NewStore(en.db.Conn).Load(ctx, []fx.Rate{{Date: time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC), Currency: "USD",
		PerEUR: decimal.RequireFromString("1.1")}}); err != nil {
		t.Fatal(err)
	}
	resp, page = b.do("POST", "/app/statements/close", url.Values{"csrf": {csrf}, "period": {period}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/app/statements?period="+period {
		t.Fatalf("close with the USD rate loaded: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	if _, page = b.get("/app/statements?period=" + period); !strings.Contains(page, `data-status="closed"`) {
		t.Errorf("after the close: %s", page)
	}
}
