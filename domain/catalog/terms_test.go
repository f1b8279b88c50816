package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/testkit/testenv"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// validTerms is a complete, valid version effective 2026-10-01.
func validTerms() Terms {
	t := Terms{
		EffectiveFrom:      date(2026, 10, 1),
		Currency:           "EUR",
		InboundCPA:         dec("2.5"),
		InboundRevSharePct: dec("10"),
		OutboundCPA:        dec("1.25"),
		StartDate:          date(2026, 10, 1),
		FallbackURL:        "https://ours.example/fallback",
	}
	t.Defaults()
	return t
}

func TestTermsDefaults(t *testing.T) {
	var tm Terms
	tm.Defaults()
	if tm.AttributionModel != LastClick || tm.AttributionWindowDays != 30 || tm.Status != StatusActive ||
		tm.InboundRevenueWindowDays != 365 || tm.OutboundRevenueWindowDays != 365 {
		t.Fatalf("Defaults = %+v", tm)
	}
	set := Terms{AttributionModel: FirstClick, AttributionWindowDays: 7, Status: StatusPaused, InboundRevenueWindowDays: 90, OutboundRevenueWindowDays: 1}
	got := set
	got.Defaults()
	if got != set {
		t.Fatalf("Defaults changed set fields: %+v, want %+v", got, set)
	}
}

func TestTermsValidate(t *testing.T) {
	if err := validTerms().Validate(); err != nil {
		t.Fatalf("valid terms: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*Terms)
		field string // "" = valid
	}{
		{"four-letter currency", func(t *Terms) { t.Currency = "EURO" }, "currency"},
		{"lower-case currency", func(t *Terms) { t.Currency = "eur" }, "currency"},
		{"unknown currency", func(t *Terms) { t.Currency = "ABC" }, "currency"},
		{"empty currency", func(t *Terms) { t.Currency = "" }, "currency"},
		{"digits currency", func(t *Terms) { t.Currency = "E1R" }, "currency"},
		{"other currency", func(t *Terms) { t.Currency = "JPY" }, ""},
		{"negative inbound CPA", func(t *Terms) { t.InboundCPA = dec("-0.01") }, "inbound_cpa"},
		{"negative outbound CPA", func(t *Terms) { t.OutboundCPA = dec("-1") }, "outbound_cpa"},
		{"CPA with 5 decimals", func(t *Terms) { t.InboundCPA = dec("1.00001") }, "inbound_cpa"},
		{"CPA with trailing zeros", func(t *Terms) { t.InboundCPA = dec("1.500000") }, ""},
		{"CPA too large", func(t *Terms) { t.OutboundCPA = dec("100000000000000") }, "outbound_cpa"},
		{"CPA largest", func(t *Terms) { t.OutboundCPA = dec("99999999999999.9999") }, ""},
		{"zero CPA and rev-share", func(t *Terms) { t.InboundCPA, t.InboundRevSharePct = decimal.Zero, decimal.Zero }, ""},
		{"rev-share 101", func(t *Terms) { t.InboundRevSharePct = dec("101") }, "inbound_revshare_pct"},
		{"rev-share 100", func(t *Terms) { t.OutboundRevSharePct = dec("100") }, ""},
		{"rev-share just over 100", func(t *Terms) { t.OutboundRevSharePct = dec("100.0001") }, "outbound_revshare_pct"},
		{"negative rev-share", func(t *Terms) { t.OutboundRevSharePct = dec("-5") }, "outbound_revshare_pct"},
		{"rev-share 5 decimals", func(t *Terms) { t.InboundRevSharePct = dec("12.12345") }, "inbound_revshare_pct"},
		{"revenue window 0", func(t *Terms) { t.InboundRevenueWindowDays = 0 }, "inbound_revenue_window_days"},
		{"revenue window 3651", func(t *Terms) { t.OutboundRevenueWindowDays = 3651 }, "outbound_revenue_window_days"},
		{"attribution window 3650", func(t *Terms) { t.AttributionWindowDays = 3650 }, ""},
		{"attribution window 0", func(t *Terms) { t.AttributionWindowDays = 0 }, "attribution_window_days"},
		{"bad model", func(t *Terms) { t.AttributionModel = "linear" }, "attribution_model"},
		{"first click", func(t *Terms) { t.AttributionModel = FirstClick }, ""},
		{"bad status", func(t *Terms) { t.Status = "deleted" }, "status"},
		{"no effective_from", func(t *Terms) { t.EffectiveFrom = time.Time{} }, "effective_from"},
		{"effective_from in 1999", func(t *Terms) { t.EffectiveFrom = date(1999, 12, 31) }, "effective_from"},
		{"no start", func(t *Terms) { t.StartDate = time.Time{} }, "start_date"},
		{"end before start", func(t *Terms) { t.EndDate = date(2026, 9, 30) }, "end_date"},
		{"end on start", func(t *Terms) { t.EndDate = date(2026, 10, 1) }, ""},
		{"end after 2105", func(t *Terms) { t.EndDate = date(2106, 1, 1) }, "end_date"},
		{"javascript fallback", func(t *Terms) { t.FallbackURL = "javascript:alert(1)" }, "fallback_url"},
		{"relative fallback", func(t *Terms) { t.FallbackURL = "/landing" }, "fallback_url"},
		{"no fallback", func(t *Terms) { t.FallbackURL = "" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := validTerms()
			tt.edit(&tm)
			err := tm.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Validate = %v, want a FieldError on %q", err, tt.field)
			}
		})
	}
}

func TestTermsInForce(t *testing.T) {
	v := func(version uint32, ef time.Time) Terms { return Terms{Version: version, EffectiveFrom: ef} }
	// Unsorted on purpose; v3 and v4 share a day, v4 wins it.
	versions := []Terms{v(3, date(2026, 12, 1)), v(1, date(2026, 10, 1)), v(4, date(2026, 12, 1)), v(2, date(2026, 11, 1))}
	tests := []struct {
		name     string
		versions []Terms
		at       time.Time
		want     uint32 // 0 = none
	}{
		{"none yet", versions, time.Date(2026, 9, 30, 23, 59, 59, 0, time.UTC), 0},
		{"no versions", nil, date(2026, 10, 1), 0},
		{"exactly on the first effective_from", versions, date(2026, 10, 1), 1},
		{"one second before midnight", versions, time.Date(2026, 10, 31, 23, 59, 59, 0, time.UTC), 1},
		{"last nanosecond of the day", versions, time.Date(2026, 10, 31, 23, 59, 59, 999999999, time.UTC), 1},
		{"exactly at midnight", versions, date(2026, 11, 1), 2},
		{"midnight in another zone is the UTC day before", versions, time.Date(2026, 11, 1, 0, 30, 0, 0, time.FixedZone("CEST", 2*3600)), 1},
		{"several versions on one day: highest", versions, date(2026, 12, 1), 4},
		{"long after", versions, date(2030, 1, 1), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := TermsInForce(tt.versions, tt.at)
			if tt.want == 0 {
				if ok {
					t.Fatalf("TermsInForce = v%d, want none", got.Version)
				}
				return
			}
			if !ok || got.Version != tt.want {
				t.Fatalf("TermsInForce = v%d, %v; want v%d", got.Version, ok, tt.want)
			}
		})
	}
}

// seedTerms adds partner "acme" and partnerships acme-de (DE, both),
// acme-fr (FR, inbound only).
func seedTerms(t *testing.T, ctx context.Context, s *Store) {
	t.Helper()
	if _, err := s.AddPartner(ctx, Partner{ID: "acme", Name: "Acme", Domains: []string{"acme.example"}}, "test"); err != nil {
		t.Fatalf("AddPartner: %v", err)
	}
	for _, ps := range []Partnership{
		{ID: "acme-de", Partner: "acme", Country: "DE", Direction: vocab.Both},
		{ID: "acme-fr", Partner: "acme", Country: "FR", Direction: vocab.Inbound},
	} {
		if _, err := s.AddPartnership(ctx, ps, "test"); err != nil {
			t.Fatalf("AddPartnership(%s): %v", ps.ID, err)
		}
	}
}

func TestSetTermsVersions(t *testing.T) {
	db := testenv.Postgres(t)
	ctx := testCtx(t)
	s := NewStore(db.Pool)
	seedTerms(t, ctx, s)

	if _, ok, err := s.TermsAt(ctx, "acme-de", date(2026, 10, 1)); err != nil || ok {
		t.Fatalf("TermsAt before any terms = %v, %v; want none", ok, err)
	}

	in1 := Terms{
		EffectiveFrom:           time.Date(2026, 10, 1, 15, 4, 5, 0, time.UTC), // cut to the day
		Currency:                "eur",                                         // upper-cased
		InboundCPA:              dec("2.50"),
		InboundRevSharePct:      dec("12.5"),
		OutboundCPA:             dec("1"),
		StartDate:               date(2026, 10, 1),
		TargetInboundUsersMonth: 1000,
		PartnerMayCreateLinks:   true,
		FallbackURL:             "https://ours.example/",
	}
	v1, err := s.SetTerms(ctx, "acme-de", in1, "alice@example.com")
	if err != nil {
		t.Fatalf("SetTerms v1: %v", err)
	}
	if v1.Version != 1 || v1.Currency != "EUR" || !v1.EffectiveFrom.Equal(date(2026, 10, 1)) ||
		v1.AttributionModel != LastClick || v1.AttributionWindowDays != 30 || v1.Status != StatusActive ||
		v1.InboundRevenueWindowDays != 365 || v1.CreatedBy != "alice@example.com" || v1.CreatedAt.IsZero() {
		t.Fatalf("SetTerms v1 = %+v", v1)
	}

	in2 := in1
	in2.EffectiveFrom = date(2026, 11, 1)
	in2.InboundCPA = dec("3.75")
	in2.EndDate = date(2027, 12, 31)
	v2, err := s.SetTerms(ctx, "acme-de", in2, "bob@example.com")
	if err != nil {
		t.Fatalf("SetTerms v2: %v", err)
	}
	if v2.Version != 2 {
		t.Fatalf("SetTerms v2 version = %d", v2.Version)
	}

	// A retry of the same change adds nothing.
	again, err := s.SetTerms(ctx, "acme-de", in2, "bob@example.com")
	if err != nil || again.Version != 2 {
		t.Fatalf("repeated SetTerms = v%d, %v; want v2, nil", again.Version, err)
	}

	versions, err := s.TermsVersions(ctx, "acme-de")
	if err != nil {
		t.Fatalf("TermsVersions: %v", err)
	}
	if len(versions) != 2 || versions[0].Version != 1 || versions[1].Version != 2 {
		t.Fatalf("TermsVersions = %+v, want v1, v2", versions)
	}
	got1 := versions[0]
	if got1.Partnership != "acme-de" || !got1.InboundCPA.Equal(dec("2.5")) || !got1.InboundRevSharePct.Equal(dec("12.5")) ||
		!got1.OutboundCPA.Equal(dec("1")) || !got1.EndDate.IsZero() || !got1.StartDate.Equal(date(2026, 10, 1)) ||
		!got1.PartnerMayCreateLinks || got1.TargetInboundUsersMonth != 1000 || got1.FallbackURL != "https://ours.example/" ||
		!got1.CreatedAt.Equal(v1.CreatedAt) || got1.CreatedBy != "alice@example.com" || got1.Currency != "EUR" {
		t.Fatalf("stored v1 = %+v, returned %+v", got1, v1)
	}
	if !versions[1].EndDate.Equal(date(2027, 12, 31)) || !versions[1].InboundCPA.Equal(dec("3.75")) {
		t.Fatalf("stored v2 = %+v", versions[1])
	}

	for _, tt := range []struct {
		at   time.Time
		want uint32
	}{
		{time.Date(2026, 10, 31, 23, 59, 59, 0, time.UTC), 1},
		{date(2026, 11, 1), 2},
		{date(2026, 10, 1), 1},
	} {
		got, ok, err := s.TermsAt(ctx, "acme-de", tt.at)
		if err != nil || !ok || got.Version != tt.want {
			t.Fatalf("TermsAt(%v) = v%d, %v, %v; want v%d", tt.at, got.Version, ok, err, tt.want)
		}
	}
	if _, ok, err := s.TermsAt(ctx, "acme-de", time.Date(2026, 9, 30, 23, 59, 59, 0, time.UTC)); err != nil || ok {
		t.Fatalf("TermsAt before v1 = %v, %v; want none", ok, err)
	}

	// Same day as the latest is allowed (a correction); earlier is not.
	fix := in2
	fix.InboundCPA = dec("3.80")
	v3, err := s.SetTerms(ctx, "acme-de", fix, "bob@example.com")
	if err != nil || v3.Version != 3 {
		t.Fatalf("SetTerms on the latest's day = v%d, %v; want v3", v3.Version, err)
	}
	if got, _, _ := s.TermsAt(ctx, "acme-de", date(2026, 11, 15)); got.Version != 3 {
		t.Fatalf("TermsAt after a same-day correction = v%d, want v3", got.Version)
	}
	early := in2
	early.EffectiveFrom = date(2026, 10, 31)
	_, err = s.SetTerms(ctx, "acme-de", early, "bob@example.com")
	wantFieldErr(t, err, "effective_from")

	// Refusals write nothing.
	_, err = s.SetTerms(ctx, "nope", in1, "alice@example.com")
	wantFieldErr(t, err, "partnership")
	_, err = s.SetTerms(ctx, "acme-fr", in1, "alice@example.com") // outbound CPA on an inbound-only partnership
	wantFieldErr(t, err, "outbound_cpa")
	bad := in1
	bad.InboundRevSharePct = dec("101")
	_, err = s.SetTerms(ctx, "acme-de", bad, "alice@example.com")
	wantFieldErr(t, err, "inbound_revshare_pct")
	_, err = s.SetTerms(ctx, "acme-de", in1, " ")
	wantFieldErr(t, err, "actor")
	if versions, err := s.TermsVersions(ctx, "acme-de"); err != nil || len(versions) != 3 {
		t.Fatalf("after refusals: %d versions, %v; want 3", len(versions), err)
	}
	if versions, err := s.TermsVersions(ctx, "acme-fr"); err != nil || len(versions) != 0 {
		t.Fatalf("acme-fr: %d versions, %v; want 0", len(versions), err)
	}

	// One audit row per stored version, before/after decoding to the terms.
	all, err := s.AuditLog(ctx, AuditFilter{Entity: EntityPartnership, EntityID: "acme-de"})
	if err != nil {
		t.Fatalf("AuditLog: %v", err)
	}
	var log []AuditEntry
	for _, e := range all {
		if e.Action == ActionSetTerms { // the partnership's creation has its own entry
			log = append(log, e)
		}
	}
	if len(log) != 3 {
		t.Fatalf("AuditLog has %d entries, want 3: %+v", len(log), log)
	}
	for i, e := range log { // newest first
		want := uint32(3 - i)
		if e.Action != ActionSetTerms || e.Country != "DE" || e.ID == "" {
			t.Errorf("entry %d = %+v", i, e)
		}
		var after Terms
		if err := json.Unmarshal([]byte(e.After), &after); err != nil || after.Version != want {
			t.Fatalf("entry %d after = %s (%v), want version %d", i, e.After, err, want)
		}
		if want == 1 {
			if e.Before != "" || e.Actor != "alice@example.com" {
				t.Errorf("first entry: before %q, actor %q", e.Before, e.Actor)
			}
			continue
		}
		var before Terms
		if err := json.Unmarshal([]byte(e.Before), &before); err != nil || before.Version != want-1 {
			t.Fatalf("entry %d before = %s (%v), want version %d", i, e.Before, err, want-1)
		}
		if before.InboundCPA.Equal(after.InboundCPA) {
			t.Errorf("entry %d: CPA %s before and after, want the change", i, after.InboundCPA)
		}
	}
	var a2, b2 Terms
	_ = json.Unmarshal([]byte(log[1].After), &a2)
	_ = json.Unmarshal([]byte(log[1].Before), &b2)
	if !b2.InboundCPA.Equal(dec("2.5")) || !a2.InboundCPA.Equal(dec("3.75")) {
		t.Fatalf("v2 audit CPA %s -> %s, want 2.5 -> 3.75", b2.InboundCPA, a2.InboundCPA)
	}
	if !strings.Contains(log[1].After, `"end_date":"2027-12-31T00:00:00Z"`) || strings.Contains(log[2].After, "end_date") {
		t.Errorf("end_date in JSON: v1 %s, v2 %s", log[2].After, log[1].After)
	}
}
