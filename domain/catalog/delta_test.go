package catalog

import (
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// A cache that follows the changes ends, after each kind of change, with
// the snapshot a whole load gives: the same rows, and every link resolved
// (or not) to the same place. The changes reach it without whole loads.
func TestCacheFollowsChangesAsAWholeLoadWould(t *testing.T) {
	ctx, s := seededStore(t)
	s.WithClock(testenv.Clock())
	addLinks(t, ctx, s,
		Link{Code: "a", Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://acme.example/a"},
		Link{Code: "shop", Partnership: "acme-de", Direction: vocab.Outbound, URL: "https://acme-shop.example/s"},
		Link{Code: "in", Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://www.example.com/in"},
		Link{Code: "fr", Partnership: "acme-in", Direction: vocab.Inbound, URL: "https://www.example.com/fr"},
	)
	c := NewCache(s, "", time.Hour, testenv.Logger(t))
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	str := func(v string) *string { return &v }
	for _, tt := range []struct {
		name   string
		change func() error
	}{
		{"a link added", func() error {
			_, err := s.AddLink(ctx, Link{Code: "new", Partnership: "acme-out", Direction: vocab.Outbound, URL: "https://acme.example/n"}, "test")
			return err
		}},
		{"a link's URL changed", func() error {
			_, err := s.UpdateLink(ctx, "a", LinkChange{URL: str("https://acme.example/a2")}, "test")
			return err
		}},
		{"a link paused", func() error {
			_, err := s.UpdateLink(ctx, "fr", LinkChange{Status: str(StatusPaused)}, "test")
			return err
		}},
		{"a partner loses a domain", func() error {
			_, err := s.UpdatePartner(ctx, "acme", PartnerChange{Domains: &[]string{"acme.example"}}, "test")
			return err
		}},
		{"a new terms version with a fallback", func() error {
			_, err := s.SetTerms(ctx, "acme-de", Terms{Currency: "EUR", InboundCPA: decimal.NewFromInt(2), FallbackURL: "https://www.example.com/fallback", EffectiveFrom: testenv.Now().AddDate(0, 0, -1), StartDate: testenv.Now().AddDate(0, 0, -1)}, "test")
			return err
		}},
		{"a partnership narrowed", func() error {
			if _, err := s.UpdateLink(ctx, "in", LinkChange{Status: str(StatusPaused)}, "test"); err != nil {
				return err
			}
			_, err := s.UpdatePartnership(ctx, "acme-de", PartnershipChange{Direction: str(vocab.Outbound)}, "test")
			return err
		}},
		{"the partner archived", func() error {
			_, err := s.UpdatePartner(ctx, "acme", PartnerChange{Status: str(StatusArchived)}, "test")
			return err
		}},
		{"nothing changed", func() error { return nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.change(); err != nil {
				t.Fatal(err)
			}
			if err := c.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			sameSnapshot(t, c.Get(), mustLoad(t, ctx, s))
		})
	}
	if n := c.fulls.Load(); n != 1 {
		t.Errorf("%d whole loads; want 1 (at start), every change by the changes since", n)
	}
}

// sameSnapshot compares what readers of a snapshot see.
func sameSnapshot(t *testing.T, got, want *Snapshot) {
	t.Helper()
	if got.Rev != want.Rev {
		t.Errorf("rev %d, want %d", got.Rev, want.Rev)
	}
	for _, m := range []struct {
		name      string
		got, want any
	}{
		{"partners", got.Partners, want.Partners},
		{"partnerships", got.Partnerships, want.Partnerships},
		{"links", got.Links, want.Links},
		{"terms", got.Terms, want.Terms},
	} {
		g, _ := json.Marshal(m.got)
		w, _ := json.Marshal(m.want)
		if string(g) != string(w) {
			t.Errorf("%s:\n got %s\nwant %s", m.name, g, w)
		}
	}
	codes := map[string]bool{}
	for code := range got.Links.All() {
		codes[code] = true
	}
	for code := range want.Links.All() {
		codes[code] = true
	}
	var sorted []string
	for code := range codes {
		sorted = append(sorted, code)
	}
	sort.Strings(sorted)
	now := testenv.Now()
	for _, code := range sorted {
		g, w := got.Lookup(code), want.Lookup(code)
		if (g == nil) != (w == nil) {
			t.Errorf("link %s resolvable: %v, whole load: %v", code, g != nil, w != nil)
			continue
		}
		if g == nil {
			continue
		}
		gd, gf, gok := g.Target(now, "c1")
		wd, wf, wok := w.Target(now, "c1")
		if gd != wd || gf != wf || gok != wok || !reflect.DeepEqual(g.Link, w.Link) || g.Country != w.Country {
			t.Errorf("link %s: goes to %q (fallback %v, %v), whole load: %q (fallback %v, %v)", code, gd, gf, gok, wd, wf, wok)
		}
	}
}

// A change committed while a delta is read is not skipped: rev numbers
// commit in order, so the next delta has it.
func TestChangesSinceMissNothingUnderConcurrentWrites(t *testing.T) {
	ctx, s := seededStore(t)
	done := make(chan error, 1)
	go func() {
		for i := range 60 {
			if _, err := s.AddLink(ctx, Link{Partnership: "acme-in", Direction: vocab.Inbound, URL: "https://www.example.com/" + string(rune('a'+i%26))}, "test"); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	snap := mustLoad(t, ctx, s)
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		d, err := s.Changes(context.Background(), snap.Rev)
		if err != nil {
			t.Fatal(err)
		}
		if d.Rev > snap.Rev {
			snap = snap.Apply(d, time.Now())
		}
	}
	d, err := s.Changes(ctx, snap.Rev)
	if err != nil {
		t.Fatal(err)
	}
	snap = snap.Apply(d, time.Now())
	if want := mustLoad(t, ctx, s); snap.Links.Len() != want.Links.Len() || want.Links.Len() != 60 {
		t.Fatalf("%d links followed by changes, %d stored (want 60)", snap.Links.Len(), want.Links.Len())
	}
}
