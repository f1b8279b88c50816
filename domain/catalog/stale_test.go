package catalog

import (
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestIfVersionOneWinner: two stores on two pools change one link, both
// from the version they read. The row lock lets exactly one through; the
// other is ErrStale naming the version the winner made, and wrote nothing.
func TestIfVersionOneWinner(t *testing.T) {
	db := testenv.Postgres(t)
	ctx := testCtx(t)
	other, err := pgxpool.New(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	a, b := NewStore(db.Pool), NewStore(other)
	seed(t, ctx, a)
	l, err := a.AddLink(ctx, Link{Code: "race", Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://ours.example/"}, "test")
	if err != nil || l.Version != 1 {
		t.Fatalf("AddLink: %+v, %v", l, err)
	}
	var (
		wg   sync.WaitGroup
		errs [2]error
		got  [2]Link
	)
	for i, s := range []*Store{a, b} {
		wg.Go(func() {
			campaign := []string{"first", "second"}[i]
			got[i], errs[i] = s.UpdateLink(ctx, "race", LinkChange{Campaign: &campaign, IfVersion: l.Version}, "test")
		})
	}
	wg.Wait()
	win := 0
	if errs[0] != nil {
		win = 1
	}
	lose := 1 - win
	var se *StaleError
	if errs[win] != nil || !errors.Is(errs[lose], ErrStale) || !errors.As(errs[lose], &se) || se.Current != 2 {
		t.Fatalf("UpdateLink twice from version 1: %v, %v; want one nil and one ErrStale at version 2", errs[0], errs[1])
	}
	if got[win].Version != 2 {
		t.Errorf("winner's link is at version %d, want 2", got[win].Version)
	}
	stored, _ := mustLoad(t, ctx, a).Links.Get("race")
	if stored.Version != 2 || stored.Campaign != got[win].Campaign {
		t.Errorf("stored link %+v, want the winner's %+v", stored, got[win])
	}
	if es := auditOf(t, a, EntityLink, "race"); len(es) != 2 {
		t.Errorf("%d audit entries, want the creation and the winner's change", len(es))
	}
}

// TestIfVersionEachWrite: every versioned write refuses a stale version
// and takes the current one; terms count their latest version, 0 for none.
func TestIfVersionEachWrite(t *testing.T) {
	ctx, s := seededStore(t)
	name := "Acme Two"
	if _, err := s.UpdatePartner(ctx, "acme", PartnerChange{Name: &name, IfVersion: 7}, "test"); !errors.Is(err, ErrStale) {
		t.Errorf("UpdatePartner from version 7: %v, want ErrStale", err)
	}
	p, err := s.UpdatePartner(ctx, "acme", PartnerChange{Name: &name, IfVersion: 1}, "test")
	if err != nil || p.Version != 2 {
		t.Errorf("UpdatePartner from version 1: %+v, %v; want version 2", p, err)
	}
	dir := vocab.Both
	if _, err := s.UpdatePartnership(ctx, "acme-in", PartnershipChange{Direction: &dir, IfVersion: 2}, "test"); !errors.Is(err, ErrStale) {
		t.Errorf("UpdatePartnership from version 2: %v, want ErrStale", err)
	}
	ps, err := s.UpdatePartnership(ctx, "acme-in", PartnershipChange{Direction: &dir, IfVersion: 1}, "test")
	if err != nil || ps.Version != 2 {
		t.Errorf("UpdatePartnership from version 1: %+v, %v; want version 2", ps, err)
	}
	if _, err := s.SetTermsIf(ctx, "acme-de", validTerms(), 1, "test"); !errors.Is(err, ErrStale) {
		t.Errorf("SetTermsIf from version 1 with none: %v, want ErrStale", err)
	}
	tv, err := s.SetTermsIf(ctx, "acme-de", validTerms(), 0, "test")
	if err != nil || tv.Version != 1 {
		t.Fatalf("SetTermsIf from none: %+v, %v", tv, err)
	}
	next := validTerms()
	next.Currency = "USD"
	var se *StaleError
	if _, err := s.SetTermsIf(ctx, "acme-de", next, 0, "test"); !errors.As(err, &se) || se.Current != 1 {
		t.Errorf("SetTermsIf from none with version 1: %v, want a StaleError at 1", err)
	}
	if vs, _ := s.TermsVersions(ctx, "acme-de"); len(vs) != 1 {
		t.Errorf("%d terms versions after a stale change, want 1", len(vs))
	}
}
