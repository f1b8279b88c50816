package catalog

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/testkit/testenv"
)

func TestLocalise(t *testing.T) {
	src := Link{Campaign: "spring sale/2", URL: "https://dora.example/de/fr%C3%BChling?x=1&y=2#top"}
	for _, c := range []struct {
		name, tmpl, lang, want string
	}{
		{"country and lang", "https://dora.example/{lang}-{country}/promo", "", "https://dora.example/fr-fr/promo"},
		{"upper country", "https://dora.example/promo?cc={COUNTRY}", "", "https://dora.example/promo?cc=FR"},
		{"lang given", "https://dora.example/{lang}/", "fr-CA", "https://dora.example/fr-CA/"},
		{"campaign escaped", "https://dora.example/?c={campaign}", "", "https://dora.example/?c=spring+sale%2F2"},
		{"path, query and fragment kept", "https://dora.example/fr/{path}", "", "https://dora.example/fr/de/fr%C3%BChling?x=1&y=2#top"},
		{"click id left for the redirect", "https://dora.example/?c={click_id}", "", "https://dora.example/?c={click_id}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := Replication{Country: "FR", Lang: c.lang}
			if r.Lang == "" {
				r.Lang = DefaultLang(r.Country)
			}
			if err := checkURLTemplate("url_template", c.tmpl); err != nil {
				t.Fatal(err)
			}
			if got := r.localise(c.tmpl, src); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
	for _, bad := range []string{"ftp://x/", "dora.example/{lang}", "https://x/{language}", "https://x/{lang"} {
		if err := checkURLTemplate("url_template", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDefaultLang(t *testing.T) {
	for cc, want := range map[string]string{"FR": "fr", "at": "de", "BR": "pt", "US": "en", "JP": "ja", "ZZ": "en"} {
		if got := DefaultLang(cc); got != want {
			t.Errorf("DefaultLang(%s) = %s, want %s", cc, got, want)
		}
	}
}

// TestReplicateRaces: two replications of one partner into one country at
// once make one partnership; the other is refused whole (no terms, links,
// origin or audit entry of it remain).
func TestReplicateRaces(t *testing.T) {
	ctx := context.Background()
	s := NewStore(testenv.Postgres(t).Pool).WithClock(testenv.Clock())
	if _, err := s.AddPartner(ctx, Partner{ID: "dora", Name: "Dora", Domains: []string{"dora.example"}}, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddPartnership(ctx, Partnership{ID: "ps-de", Partner: "dora", Country: "DE", Direction: "inbound"}, "t"); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.SetTerms(ctx, "ps-de", Terms{EffectiveFrom: day, StartDate: day, Currency: "EUR", InboundCPA: decimal.RequireFromString("2.5")}, "t"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.AddLink(ctx, Link{Partnership: "ps-de", Direction: "inbound", URL: "https://ours.example/x"}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []string{"dora-fr-a", "dora-fr-b"} {
		wg.Go(func() {
			_, errs[i] = s.Replicate(ctx, Replication{Source: "ps-de", Country: "FR", ID: id}, "racer")
		})
	}
	wg.Wait()
	var dup *DuplicatePartnershipError
	if (errs[0] == nil) == (errs[1] == nil) || !errors.As(errors.Join(errs...), &dup) {
		t.Fatalf("two replications into FR: %v, want one to win and one DuplicatePartnershipError", errs)
	}
	var partnerships, links, origins, entries int
	err := s.DB().QueryRow(ctx, `SELECT (SELECT count(*) FROM partnerships WHERE country = 'FR'),
 (SELECT count(*) FROM links l JOIN partnerships p ON p.id = l.partnership WHERE p.country = 'FR'),
 (SELECT count(*) FROM partnership_origins),
 (SELECT count(*) FROM audit_log WHERE actor = 'racer')`).Scan(&partnerships, &links, &origins, &entries)
	if err != nil {
		t.Fatal(err)
	}
	// One replication: partnership, terms, 3 links, replicate, replicated.
	if partnerships != 1 || links != 3 || origins != 1 || entries != 7 {
		t.Errorf("after the race: %d partnerships, %d links, %d origins, %d audit entries in FR; want 1, 3, 1, 7", partnerships, links, origins, entries)
	}
	// Into its own country, or from a partnership without terms: refused.
	if _, err := s.Replicate(ctx, Replication{Source: "ps-de", Country: "DE"}, "t"); err == nil {
		t.Error("replicating into the source's own country was accepted")
	}
}
