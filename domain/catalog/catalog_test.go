package catalog

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/testkit/testenv"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// seed adds one partner (acme: acme.example, acme-shop.example) and three
// partnerships: acme-de (both), acme-in (inbound only), acme-out (outbound only).
func seed(t *testing.T, ctx context.Context, s *Store) {
	t.Helper()
	if _, err := s.AddPartner(ctx, Partner{ID: "acme", Name: "Acme", Domains: []string{"acme.example", "acme-shop.example"}}, "test"); err != nil {
		t.Fatalf("AddPartner: %v", err)
	}
	for _, ps := range []Partnership{
		{ID: "acme-de", Partner: "acme", Country: "DE", Direction: vocab.Both},
		{ID: "acme-in", Partner: "acme", Country: "FR", Direction: vocab.Inbound},
		{ID: "acme-out", Partner: "acme", Country: "AT", Direction: vocab.Outbound},
	} {
		if _, err := s.AddPartnership(ctx, ps, "test"); err != nil {
			t.Fatalf("AddPartnership(%s): %v", ps.ID, err)
		}
	}
}

// seededStore is a Store on a fresh database holding what seed adds.
func seededStore(t *testing.T) (context.Context, *Store) {
	t.Helper()
	db := testenv.Postgres(t)
	ctx := testCtx(t)
	s := NewStore(db.Pool)
	seed(t, ctx, s)
	return ctx, s
}

// addLinks adds links the test needs in place before it looks at them.
func addLinks(t *testing.T, ctx context.Context, s *Store, links ...Link) {
	t.Helper()
	for _, l := range links {
		if _, err := s.AddLink(ctx, l, "test"); err != nil {
			t.Fatalf("AddLink(%s): %v", l.Code, err)
		}
	}
}

// mustLoad loads the catalog a test goes on to look at.
func mustLoad(t *testing.T, ctx context.Context, s *Store) *Snapshot {
	t.Helper()
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return snap
}

// tryAdd is one of the Store's Add methods as a table case runs it: the
// cases that expect a refusal look only at the error.
func tryAdd[T any](ctx context.Context, add func(context.Context, T, string) (T, error), v T) func() error {
	return func() error {
		_, err := add(ctx, v, "test")
		return err
	}
}

func TestStoreAddAndLoad(t *testing.T) {
	db := testenv.Postgres(t)
	ctx := testCtx(t)
	s := NewStore(db.Pool)

	empty, err := s.Load(ctx)
	if err != nil {
		t.Fatalf("Load on an empty catalog: %v", err)
	}
	if len(empty.Partners)+len(empty.Partnerships)+empty.Links.Len() != 0 {
		t.Fatalf("fresh database has a catalog: %+v", empty)
	}

	p, err := s.AddPartner(ctx, Partner{ID: "acme", Name: "  Acme GmbH ", Domains: []string{"Shop.Acme.Example.", "acme.example", " ", "ACME.example"}}, "test")
	if err != nil {
		t.Fatalf("AddPartner: %v", err)
	}
	wantPartner := Partner{ID: "acme", Name: "Acme GmbH", Domains: []string{"acme.example", "shop.acme.example"}, Status: StatusActive, Countries: []string{}, Version: 1}
	if !reflect.DeepEqual(p, wantPartner) {
		t.Fatalf("AddPartner returned %+v, want %+v (trimmed name, normalized, deduplicated, sorted domains)", p, wantPartner)
	}
	noDomains, err := s.AddPartner(ctx, Partner{ID: "globex", Name: "Globex"}, "test")
	if err != nil {
		t.Fatalf("AddPartner without domains: %v", err)
	}
	if noDomains.Domains == nil || len(noDomains.Domains) != 0 {
		t.Fatalf("AddPartner without domains: Domains = %#v, want empty non-nil", noDomains.Domains)
	}

	ps, err := s.AddPartnership(ctx, Partnership{ID: "acme-de", Partner: "acme", Country: "de", Direction: vocab.Both}, "test")
	if err != nil {
		t.Fatalf("AddPartnership: %v", err)
	}
	if ps.Country != "DE" {
		t.Fatalf("AddPartnership country = %q, want upper-cased DE", ps.Country)
	}
	if _, err := s.AddPartnership(ctx, Partnership{ID: "globex-fr", Partner: "globex", Country: "FR", Direction: vocab.Inbound}, "test"); err != nil {
		t.Fatalf("AddPartnership: %v", err)
	}

	in, err := s.AddLink(ctx, Link{Code: "In-1", Partnership: "acme-de", Partner: "ignored", Direction: vocab.Inbound, URL: "https://ours.example/landing?src=acme", Campaign: "spring"}, "test")
	if err != nil {
		t.Fatalf("AddLink inbound: %v", err)
	}
	if in.Partner != "acme" {
		t.Fatalf("AddLink set Partner = %q, want the partnership's partner acme", in.Partner)
	}
	if _, err := s.AddLink(ctx, Link{Code: "out_1", Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://www.shop.acme.example/offer"}, "test"); err != nil {
		t.Fatalf("AddLink outbound: %v", err)
	}
	if _, err := s.AddLink(ctx, Link{Code: "gx", Partnership: "globex-fr", Direction: vocab.Inbound, URL: "http://ours.example/"}, "test"); err != nil {
		t.Fatalf("AddLink inbound globex: %v", err)
	}

	before := time.Now().UTC().Add(-time.Second)
	snap := mustLoad(t, ctx, s)
	wantPartners := map[string]Partner{
		"acme":   wantPartner,
		"globex": {ID: "globex", Name: "Globex", Domains: []string{}, Status: StatusActive, Countries: []string{}, Version: 1},
	}
	wantPartnerships := map[string]Partnership{
		"acme-de":   {ID: "acme-de", Partner: "acme", Country: "DE", Direction: vocab.Both, Version: 1},
		"globex-fr": {ID: "globex-fr", Partner: "globex", Country: "FR", Direction: vocab.Inbound, Version: 1},
	}
	wantLinks := map[string]Link{
		"In-1":  {Code: "In-1", Partnership: "acme-de", Partner: "acme", Direction: vocab.Inbound, URL: "https://ours.example/landing?src=acme", Campaign: "spring", Status: StatusActive, CreatedBy: "test", Version: 1},
		"out_1": {Code: "out_1", Partnership: "acme-de", Partner: "acme", Direction: vocab.Outbound, URL: "https://www.shop.acme.example/offer", Status: StatusActive, CreatedBy: "test", Version: 1},
		"gx":    {Code: "gx", Partnership: "globex-fr", Partner: "globex", Direction: vocab.Inbound, URL: "http://ours.example/", Status: StatusActive, CreatedBy: "test", Version: 1},
	}
	if !reflect.DeepEqual(snap.Partners, wantPartners) {
		t.Errorf("Partners = %+v, want %+v", snap.Partners, wantPartners)
	}
	if !reflect.DeepEqual(snap.Partnerships, wantPartnerships) {
		t.Errorf("Partnerships = %+v, want %+v", snap.Partnerships, wantPartnerships)
	}
	if !reflect.DeepEqual(maps.Collect(snap.Links.All()), wantLinks) {
		t.Errorf("Links = %+v, want %+v", maps.Collect(snap.Links.All()), wantLinks)
	}
	if snap.LoadedAt.Before(before) || snap.LoadedAt.Location() != time.UTC {
		t.Errorf("LoadedAt = %v, want now in UTC", snap.LoadedAt)
	}
}

func TestStoreDuplicates(t *testing.T) {
	ctx, s := seededStore(t)
	if _, err := s.AddLink(ctx, Link{Code: "dup", Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://ours.example/"}, "test"); err != nil {
		t.Fatalf("AddLink: %v", err)
	}
	tests := []struct {
		name string
		add  func() error
	}{
		{"partner", tryAdd(ctx, s.AddPartner, Partner{ID: "acme", Name: "Other Acme", Domains: []string{"other.example"}})},
		{"partnership", tryAdd(ctx, s.AddPartnership, Partnership{ID: "acme-de", Partner: "acme", Country: "FR", Direction: vocab.Inbound})},
		{"link", tryAdd(ctx, s.AddLink, Link{Code: "dup", Partnership: "acme-in", Direction: vocab.Inbound, URL: "https://ours.example/other"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.add()
			if !errors.Is(err, ErrExists) {
				t.Fatalf("adding a second %s: %v, want ErrExists", tt.name, err)
			}
		})
	}
	// The refused duplicates did not overwrite the originals.
	snap := mustLoad(t, ctx, s)
	if got := snap.Partners["acme"]; got.Name != "Acme" {
		t.Errorf("partner acme = %+v after a refused duplicate", got)
	}
	if got := snap.Partnerships["acme-de"]; got.Country != "DE" || got.Direction != vocab.Both {
		t.Errorf("partnership acme-de = %+v after a refused duplicate", got)
	}
	if got, _ := snap.Links.Get("dup"); got.Partnership != "acme-de" || got.URL != "https://ours.example/" {
		t.Errorf("link dup = %+v after a refused duplicate", got)
	}
}

func TestStoreRejects(t *testing.T) {
	ctx, s := seededStore(t)
	before := mustLoad(t, ctx, s)
	tests := []struct {
		name  string
		field string
		add   func() error
	}{
		{"partner bad id", "id", tryAdd(ctx, s.AddPartner, Partner{ID: "Bad Id", Name: "x"})},
		{"partner without name", "name", tryAdd(ctx, s.AddPartner, Partner{ID: "noname", Name: "   "})},
		{"partner bad domain", "domains", tryAdd(ctx, s.AddPartner, Partner{ID: "baddomain", Name: "x", Domains: []string{"ok.example", "not a domain"}})},
		{"partnership of a missing partner", "partner", tryAdd(ctx, s.AddPartnership, Partnership{ID: "ghost-de", Partner: "ghost", Country: "DE", Direction: vocab.Both})},
		{"partnership bad partner id", "partner", tryAdd(ctx, s.AddPartnership, Partnership{ID: "x-de", Partner: "No Such", Country: "DE", Direction: vocab.Both})},
		{"partnership bad id", "id", tryAdd(ctx, s.AddPartnership, Partnership{ID: "", Partner: "acme", Country: "DE", Direction: vocab.Both})},
		{"partnership bad country", "country", tryAdd(ctx, s.AddPartnership, Partnership{ID: "acme-xx", Partner: "acme", Country: "XX", Direction: vocab.Both})},
		{"partnership bad direction", "direction", tryAdd(ctx, s.AddPartnership, Partnership{ID: "acme-it", Partner: "acme", Country: "IT", Direction: "sideways"})},
		{"link on a missing partnership", "partnership", tryAdd(ctx, s.AddLink, Link{Code: "l1", Partnership: "ghost-de", Direction: vocab.Inbound, URL: "https://ours.example/"})},
		{"link bad code", "code", tryAdd(ctx, s.AddLink, Link{Code: "a b", Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://ours.example/"})},
		{"link direction both", "direction", tryAdd(ctx, s.AddLink, Link{Code: "l2", Partnership: "acme-de", Direction: vocab.Both, URL: "https://acme.example/"})},
		{"outbound link on an inbound-only partnership", "direction", tryAdd(ctx, s.AddLink, Link{Code: "l3", Partnership: "acme-in", Direction: vocab.Outbound, URL: "https://acme.example/"})},
		{"inbound link on an outbound-only partnership", "direction", tryAdd(ctx, s.AddLink, Link{Code: "l4", Partnership: "acme-out", Direction: vocab.Inbound, URL: "https://ours.example/"})},
		{"outbound link to a foreign domain", "url", tryAdd(ctx, s.AddLink, Link{Code: "l5", Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://evil.example/"})},
		{"outbound link to a lookalike domain", "url", tryAdd(ctx, s.AddLink, Link{Code: "l6", Partnership: "acme-out", Direction: vocab.Outbound, URL: "https://evilacme.example/"})},
		{"inbound link to javascript", "url", tryAdd(ctx, s.AddLink, Link{Code: "l7", Partnership: "acme-de", Direction: vocab.Inbound, URL: "javascript:alert(1)"})},
		{"link campaign with a control character", "campaign", tryAdd(ctx, s.AddLink, Link{Code: "l8", Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://ours.example/", Campaign: "a\nb"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.add()
			if err == nil {
				t.Fatalf("accepted, want a FieldError on %q", tt.field)
			}
			if errors.Is(err, ErrExists) {
				t.Fatalf("got ErrExists (%v), want a FieldError on %q", err, tt.field)
			}
			wantFieldErr(t, err, tt.field)
		})
	}
	after := mustLoad(t, ctx, s)
	if !reflect.DeepEqual(before.Partners, after.Partners) || !reflect.DeepEqual(before.Partnerships, after.Partnerships) || after.Links.Len() != 0 {
		t.Fatalf("refused adds changed the catalog:\nbefore %+v\nafter  %+v", before, after)
	}
	// The same links on the right partnerships are accepted.
	for _, l := range []Link{
		{Code: "l3", Partnership: "acme-out", Direction: vocab.Outbound, URL: "https://acme.example/"},
		{Code: "l4", Partnership: "acme-in", Direction: vocab.Inbound, URL: "https://ours.example/"},
		{Code: "l6", Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://www.acme-shop.example/"},
	} {
		if _, err := s.AddLink(ctx, l, "test"); err != nil {
			t.Errorf("AddLink(%+v): %v", l, err)
		}
	}
}

func TestSnapshotLookup(t *testing.T) {
	ctx, s := seededStore(t)
	links := []Link{
		{Code: "de-out", Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://WWW.Acme.Example/offer?x=1#f", Campaign: "c1"},
		{Code: "de-in", Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://ours.example/landing"},
		{Code: "fr-in", Partnership: "acme-in", Direction: vocab.Inbound, URL: "http://ours.example/fr"},
		{Code: "at-out", Partnership: "acme-out", Direction: vocab.Outbound, URL: "https://acme-shop.example/at"},
	}
	addLinks(t, ctx, s, links...)
	snap := mustLoad(t, ctx, s)
	tests := []struct {
		code      string
		country   string
		direction vocab.Direction
		dest      string
		host      string
		campaign  string
	}{
		{"de-out", "DE", vocab.DirectionOutbound, "https://WWW.Acme.Example/offer?x=1#f", "WWW.Acme.Example", "c1"},
		{"de-in", "DE", vocab.DirectionInbound, "https://ours.example/landing", "ours.example", ""},
		{"fr-in", "FR", vocab.DirectionInbound, "http://ours.example/fr", "ours.example", ""},
		{"at-out", "AT", vocab.DirectionOutbound, "https://acme-shop.example/at", "acme-shop.example", ""},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			r := snap.Lookup(tt.code)
			if r == nil {
				t.Fatalf("Lookup(%q) = nil", tt.code)
			}
			if r.Country != tt.country || r.Direction != tt.direction || r.Partner != "acme" || r.Code != tt.code || r.Campaign != tt.campaign {
				t.Errorf("Lookup(%q) = %+v, want country %s direction %v partner acme campaign %q", tt.code, r, tt.country, tt.direction, tt.campaign)
			}
			if r.Dest == nil || r.Dest.String() != tt.dest || r.Dest.Host != tt.host {
				t.Errorf("Lookup(%q).Dest = %v, want %s (host %s)", tt.code, r.Dest, tt.dest, tt.host)
			}
		})
	}
	for _, code := range []string{"", "nope", "DE-OUT", "de-out "} {
		if r := snap.Lookup(code); r != nil {
			t.Errorf("Lookup(%q) = %+v, want nil", code, r)
		}
	}
	var nilSnap *Snapshot
	if r := nilSnap.Lookup("de-out"); r != nil {
		t.Errorf("nil snapshot Lookup = %+v, want nil", r)
	}
}

// TestLookupAfterPartnerLosesDomain: a partner row with a higher version
// and fewer domains makes the outbound links to the removed domain
// unresolvable (404) instead of redirecting off-partner.
func TestLookupAfterPartnerLosesDomain(t *testing.T) {
	ctx, s := seededStore(t)
	links := []Link{
		{Code: "shop", Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://acme-shop.example/offer"},
		{Code: "shop-sub", Partnership: "acme-out", Direction: vocab.Outbound, URL: "https://www.acme-shop.example/offer"},
		{Code: "main", Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://www.acme.example/offer"},
		{Code: "in", Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://acme-shop.example/also-fine-inbound"},
	}
	addLinks(t, ctx, s, links...)
	snap := mustLoad(t, ctx, s)
	for _, l := range links {
		if snap.Lookup(l.Code) == nil {
			t.Fatalf("before the change: Lookup(%q) = nil", l.Code)
		}
	}

	// A second version of the partner without acme-shop.example.
	if _, err := s.UpdatePartner(ctx, "acme", PartnerChange{Domains: &[]string{"acme.example"}}, "test"); err != nil {
		t.Fatalf("UpdatePartner: %v", err)
	}

	snap = mustLoad(t, ctx, s)
	if got := snap.Partners["acme"].Domains; !reflect.DeepEqual(got, []string{"acme.example"}) {
		t.Fatalf("after the new version: acme domains = %v, want [acme.example]", got)
	}
	tests := []struct {
		code       string
		resolvable bool
	}{
		{"shop", false},
		{"shop-sub", false},
		{"main", true},
		{"in", true}, // inbound links are not bound to the partner's domains
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			if _, stored := snap.Links.Get(tt.code); !stored {
				t.Fatalf("link %q is no longer loaded", tt.code)
			}
			r := snap.Lookup(tt.code)
			if tt.resolvable && r == nil {
				t.Fatalf("Lookup(%q) = nil, want it resolvable", tt.code)
			}
			if !tt.resolvable && r != nil {
				t.Fatalf("Lookup(%q) = %v, want nil: its host left the partner's domains", tt.code, r.Dest)
			}
		})
	}
	// New outbound links to the removed domain are refused too.
	_, err := s.AddLink(ctx, Link{Code: "shop2", Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://acme-shop.example/x"}, "test")
	wantFieldErr(t, err, "url")
}
