package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/testkit/testenv"
)

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		c := NewCode()
		if len(c) != GeneratedCodeLen || !ValidCode(c) || strings.ContainsAny(c, "01lIO") {
			t.Fatalf("NewCode() = %q: want %d characters of %q", c, GeneratedCodeLen, codeAlphabet)
		}
		if seen[c] {
			t.Fatalf("NewCode() repeated %q within 1000 codes", c)
		}
		seen[c] = true
	}
}

// auditOf returns the entries about one thing, oldest first.
func auditOf(t *testing.T, s *Store, entity, id string) []AuditEntry {
	t.Helper()
	es, err := s.AuditLog(testCtx(t), AuditFilter{Entity: entity, EntityID: id})
	if err != nil {
		t.Fatalf("AuditLog: %v", err)
	}
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es
}

func TestUpdatesAreVersionedAndAudited(t *testing.T) {
	db := testenv.Postgres(t)
	ctx := testCtx(t)
	s := NewStore(db.Pool)
	var notified int
	s.OnChange(func(context.Context) { notified++ })
	seed(t, ctx, s)
	if _, err := s.AddLink(ctx, Link{Code: "in1", Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://ours.example/"}, "test"); err != nil {
		t.Fatal(err)
	}
	afterSeed := notified
	if afterSeed == 0 {
		t.Fatal("OnChange was not called by the seed's writes")
	}

	// Partner: rename, change domains, archive; a no-op change writes nothing.
	name := "Acme Europe"
	p, err := s.UpdatePartner(ctx, "acme", PartnerChange{Name: &name}, "alice")
	if err != nil || p.Name != name {
		t.Fatalf("UpdatePartner name: %+v, %v", p, err)
	}
	if _, err := s.UpdatePartner(ctx, "acme", PartnerChange{Name: &name}, "alice"); err != nil {
		t.Fatalf("UpdatePartner no-op: %v", err)
	}
	archived := StatusArchived
	if _, err := s.UpdatePartner(ctx, "acme", PartnerChange{Status: &archived}, "bob"); err != nil {
		t.Fatalf("UpdatePartner archive: %v", err)
	}
	bad := "deleted"
	_, err = s.UpdatePartner(ctx, "acme", PartnerChange{Status: &bad}, "bob")
	wantFieldErr(t, err, "status")
	if _, err := s.UpdatePartner(ctx, "nope", PartnerChange{Name: &name}, "bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UpdatePartner of a missing partner: %v, want ErrNotFound", err)
	}
	_, err = s.UpdatePartner(ctx, "acme", PartnerChange{Name: &name}, " ")
	wantFieldErr(t, err, "actor")

	es := auditOf(t, s, EntityPartner, "acme")
	if len(es) != 3 {
		t.Fatalf("partner audit has %d entries, want 3 (create, rename, archive): %+v", len(es), es)
	}
	for i, want := range []struct{ action, actor, beforeName, afterStatus string }{
		{ActionCreate, "test", "", StatusActive},
		{ActionUpdate, "alice", "Acme", StatusActive},
		{ActionUpdate, "bob", "Acme Europe", StatusArchived},
	} {
		e := es[i]
		var before, after Partner
		if e.Before != "" {
			if err := json.Unmarshal([]byte(e.Before), &before); err != nil {
				t.Fatal(err)
			}
		}
		if err := json.Unmarshal([]byte(e.After), &after); err != nil {
			t.Fatal(err)
		}
		if e.Action != want.action || e.Actor != want.actor || before.Name != want.beforeName || after.Status != want.afterStatus {
			t.Errorf("audit entry %d = %s by %s, before %q after status %q; want %+v", i, e.Action, e.Actor, before.Name, after.Status, want)
		}
	}
	snap := mustLoad(t, ctx, s)
	if got := snap.Partners["acme"]; got.Status != StatusArchived || got.Name != name {
		t.Fatalf("after updates: %+v", got)
	}
	// An archived partner takes no new partnership, and its links fall back.
	_, err = s.AddPartnership(ctx, Partnership{ID: "acme-it", Partner: "acme", Country: "IT", Direction: vocab.Both}, "bob")
	wantFieldErr(t, err, "partner")
	if _, _, ok := snap.Lookup("in1").Target(time.Now(), "C"); ok {
		t.Fatal("a link of an archived partner without fallback still redirects")
	}
	if notified <= afterSeed {
		t.Fatal("OnChange was not called by updates")
	}
}

func TestUpdateLink(t *testing.T) {
	ctx, s := seededStore(t)

	// A generated code.
	l, err := s.AddLink(ctx, Link{Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://ours.example/?c={click_id}"}, "carol")
	if err != nil {
		t.Fatalf("AddLink with a generated code: %v", err)
	}
	if len(l.Code) != GeneratedCodeLen || l.Status != StatusActive || l.CreatedBy != "carol" {
		t.Fatalf("AddLink = %+v", l)
	}
	// A taken vanity code.
	if _, err := s.AddLink(ctx, Link{Code: l.Code, Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://ours.example/"}, "carol"); !errors.Is(err, ErrExists) {
		t.Fatalf("AddLink with a taken code: %v, want ErrExists", err)
	}

	paused, expires := StatusPaused, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	newURL := "https://ours.example/landing"
	tests := []struct {
		name  string
		ch    LinkChange
		field string // "" when it succeeds
		check func(Link) bool
	}{
		{"pause", LinkChange{Status: &paused}, "", func(l Link) bool { return l.Status == StatusPaused }},
		{"expiry", LinkChange{ExpiresAt: &expires}, "", func(l Link) bool { return l.ExpiresAt.Equal(expires) }},
		{"no expiry", LinkChange{ExpiresAt: &time.Time{}}, "", func(l Link) bool { return l.ExpiresAt.IsZero() }},
		{"url", LinkChange{URL: &newURL}, "", func(l Link) bool { return l.URL == newURL }},
		{"bad status", LinkChange{Status: ptr("gone")}, "status", nil},
		{"bad url", LinkChange{URL: ptr("ftp://ours.example/")}, "url", nil},
		{"placeholder in host", LinkChange{URL: ptr("https://{click_id}.example/")}, "url", nil},
		{"expiry out of range", LinkChange{ExpiresAt: ptr(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))}, "expires_at", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.UpdateLink(ctx, l.Code, tt.ch, "dave")
			if tt.field != "" {
				wantFieldErr(t, err, tt.field)
				return
			}
			if err != nil {
				t.Fatalf("UpdateLink: %v", err)
			}
			snap := mustLoad(t, ctx, s)
			if stored, _ := snap.Links.Get(l.Code); !tt.check(got) || !tt.check(stored) {
				t.Fatalf("returned %+v, stored %+v", got, stored)
			}
		})
	}
	if _, err := s.UpdateLink(ctx, "missing", LinkChange{Status: &paused}, "dave"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UpdateLink of a missing link: %v", err)
	}
	// create + 4 successful changes, nothing for the refused ones.
	if es := auditOf(t, s, EntityLink, l.Code); len(es) != 5 || es[0].Country != "DE" {
		t.Fatalf("link audit: %d entries %+v, want 5 filed under DE", len(es), es)
	}

	// Narrowing a partnership's direction is refused while active links of
	// the dropped direction exist.
	if _, err := s.AddLink(ctx, Link{Code: "out", Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://acme.example/"}, "carol"); err != nil {
		t.Fatal(err)
	}
	inbound := vocab.Inbound
	_, err = s.UpdatePartnership(ctx, "acme-de", PartnershipChange{Direction: &inbound}, "dave")
	wantFieldErr(t, err, "direction")
	snap := mustLoad(t, ctx, s)
	for code, lk := range snap.Links.All() {
		if lk.Direction == vocab.Outbound {
			if _, err := s.UpdateLink(ctx, code, LinkChange{Status: ptr(StatusArchived)}, "dave"); err != nil {
				t.Fatal(err)
			}
		}
	}
	ps, err := s.UpdatePartnership(ctx, "acme-de", PartnershipChange{Direction: &inbound}, "dave")
	if err != nil || ps.Direction != vocab.Inbound {
		t.Fatalf("UpdatePartnership after archiving outbound links: %+v, %v", ps, err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestTarget(t *testing.T) {
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)
	partners := []Partner{{ID: "acme", Name: "Acme", Domains: []string{"acme.example"}}, {ID: "old", Name: "Old", Status: StatusArchived}}
	partnerships := []Partnership{
		{ID: "p", Partner: "acme", Country: "DE", Direction: vocab.Both},
		{ID: "paused", Partner: "acme", Country: "DE", Direction: vocab.Both},
		{ID: "ended", Partner: "acme", Country: "DE", Direction: vocab.Both},
		{ID: "later", Partner: "acme", Country: "DE", Direction: vocab.Both},
		{ID: "nofb", Partner: "acme", Country: "DE", Direction: vocab.Both},
		{ID: "old-de", Partner: "old", Country: "DE", Direction: vocab.Both},
	}
	terms := func(ps, status, fallback string, from, start, end time.Time, version uint32) Terms {
		return Terms{Partnership: ps, Version: version, EffectiveFrom: from, StartDate: start, EndDate: end, Status: status, FallbackURL: fallback}
	}
	oct, nov, dec := date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)
	snap := NewSnapshot(partners, partnerships, []Link{
		{Code: "live", Partnership: "p", Direction: vocab.Inbound, URL: "https://ours.example/x?a=1#f", Status: StatusActive},
		{Code: "ph", Partnership: "p", Direction: vocab.Inbound, URL: "https://ours.example/c/{click_id}?id={click_id}", Status: StatusActive},
		{Code: "paused", Partnership: "p", Direction: vocab.Inbound, URL: "https://ours.example/x", Status: StatusPaused},
		{Code: "archived", Partnership: "p", Direction: vocab.Inbound, URL: "https://ours.example/x", Status: StatusArchived},
		{Code: "expired", Partnership: "p", Direction: vocab.Inbound, URL: "https://ours.example/x", Status: StatusActive, ExpiresAt: now},
		{Code: "expires-later", Partnership: "p", Direction: vocab.Inbound, URL: "https://ours.example/x", Status: StatusActive, ExpiresAt: now.Add(time.Second)},
		{Code: "ps-paused", Partnership: "paused", Direction: vocab.Inbound, URL: "https://ours.example/x", Status: StatusActive},
		{Code: "ps-ended", Partnership: "ended", Direction: vocab.Inbound, URL: "https://ours.example/x", Status: StatusActive},
		{Code: "ps-later", Partnership: "later", Direction: vocab.Inbound, URL: "https://ours.example/x", Status: StatusActive},
		{Code: "nofb", Partnership: "nofb", Direction: vocab.Inbound, URL: "https://ours.example/x", Status: StatusPaused},
		{Code: "old", Partnership: "old-de", Direction: vocab.Inbound, URL: "https://ours.example/x", Status: StatusActive},
	},
		terms("p", StatusActive, "https://ours.example/old-fallback", oct, oct, time.Time{}, 1),
		terms("p", StatusActive, "https://ours.example/fb?s={click_id}", nov, oct, time.Time{}, 2),
		terms("p", StatusActive, "https://ours.example/future-fallback", dec, oct, time.Time{}, 3),
		terms("paused", StatusActive, "https://ours.example/fb", oct, oct, time.Time{}, 1),
		terms("paused", StatusPaused, "https://ours.example/fb", nov, oct, time.Time{}, 2),
		terms("ended", StatusActive, "https://ours.example/fb", oct, oct, date(2026, 11, 14), 1),
		terms("later", StatusActive, "https://ours.example/fb", oct, date(2026, 11, 16), time.Time{}, 1),
	)
	tests := []struct {
		code     string
		want     string
		fallback bool
		ok       bool
	}{
		{"live", "https://ours.example/x?a=1&xp_click=C1#f", false, true},
		{"ph", "https://ours.example/c/C1?id=C1", false, true},
		{"paused", "https://ours.example/fb?s=C1", true, true}, // version 2's fallback, in force now
		{"archived", "https://ours.example/fb?s=C1", true, true},
		{"expired", "https://ours.example/fb?s=C1", true, true}, // expiry is exclusive
		{"expires-later", "https://ours.example/x?xp_click=C1", false, true},
		{"ps-paused", "https://ours.example/fb?xp_click=C1", true, true},
		{"ps-ended", "https://ours.example/fb?xp_click=C1", true, true}, // end date is the last day
		{"ps-later", "https://ours.example/fb?xp_click=C1", true, true}, // before the start date
		{"nofb", "", false, false},
		{"old", "", false, false}, // archived partner, no terms
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			r := snap.Lookup(tt.code)
			if r == nil {
				t.Fatalf("Lookup(%q) = nil", tt.code)
			}
			got, fb, ok := r.Target(now, "C1")
			if got != tt.want || fb != tt.fallback || ok != tt.ok {
				t.Fatalf("Target = %q, %v, %v; want %q, %v, %v", got, fb, ok, tt.want, tt.fallback, tt.ok)
			}
		})
	}
	// The end date counts as a day of the agreement.
	if _, fb, _ := snap.Lookup("ps-ended").Target(date(2026, 11, 14).Add(23*time.Hour), "C"); fb {
		t.Fatal("a click on the agreement's last day went to the fallback")
	}
}

// Texts from the CLI reach the store undecoded (the API's JSON decoder
// would have replaced bad bytes), so the store itself refuses invalid
// UTF-8 and control characters, naming the field, and writes nothing.
func TestWritesRefuseBadText(t *testing.T) {
	ctx, s := seededStore(t)
	for _, tc := range []struct {
		name, field string
		write       func() error
	}{
		{"partner name bad utf-8", "name", tryAdd(ctx, s.AddPartner, Partner{ID: "bad1", Name: "Acme \xff"})},
		{"partner name line break", "name", tryAdd(ctx, s.AddPartner, Partner{ID: "bad2", Name: "Acme\nInjected"})},
		{"actor bad utf-8", "actor", func() error {
			_, err := s.AddPartner(ctx, Partner{ID: "bad3", Name: "Fine"}, "al\xc3ice")
			return err
		}},
		{"campaign bad utf-8", "campaign", tryAdd(ctx, s.AddLink, Link{Code: "badcamp", Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://ours.example/", Campaign: "spring\xe2\x82"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.write()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error = %v, want a FieldError on %q", err, tc.field)
			}
		})
	}
	snap := mustLoad(t, ctx, s)
	for _, id := range []string{"bad1", "bad2", "bad3"} {
		if _, ok := snap.Partners[id]; ok {
			t.Errorf("partner %s was stored", id)
		}
	}
	if _, ok := snap.Links.Get("badcamp"); ok {
		t.Error("link badcamp was stored")
	}
}
