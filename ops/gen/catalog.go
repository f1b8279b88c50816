package gen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/xpromo/xpromo/domain/catalog"
)

// Actor is who the audit log names for the generated catalog.
const Actor = "gen"

// catalogWorkers is how many catalog writes run at once: each is a short
// transaction, latency-bound; a few in parallel hide that.
const catalogWorkers = 4

// catalogCounts says what writeCatalog stored.
type catalogCounts struct {
	Partners, Partnerships, Links, Terms int
}

// ErrSeedUsed is returned when the database already holds a catalog
// generated with the same seed.
var ErrSeedUsed = errors.New("the database already holds a catalog generated with this seed; use another --seed or a fresh database")

// writeCatalog stores the plan's catalog, with catalog.Store one change
// at a time when viaStore is set, else in bulk (writeCatalogBulk).
func writeCatalog(ctx context.Context, cat *catalog.Store, p *plan, viaStore bool, progress func(what string, n int, d time.Duration)) (catalogCounts, error) {
	snap, err := cat.Load(ctx)
	if err != nil {
		return catalogCounts{}, err
	}
	if _, ok := snap.Partners[p.partners[0].ID]; ok {
		return catalogCounts{}, fmt.Errorf("partner %s exists: %w", p.partners[0].ID, ErrSeedUsed)
	}
	if viaStore {
		return writeCatalogStore(ctx, cat, p, progress)
	}
	t := time.Now()
	n, err := writeCatalogBulk(ctx, cat, p, time.Now())
	if err != nil {
		return n, err
	}
	progress(fmt.Sprintf("partners, %d partnerships, %d terms, %d links", n.Partnerships, n.Terms, n.Links), n.Partners, time.Since(t))
	return n, nil
}

// writeCatalogStore stores the plan's partners, partnerships, terms and
// links through catalog.Store, each change validated and audited as if
// made by hand (actor "gen"), one transaction each. Terms go before
// links, the biggest part of the catalog.
func writeCatalogStore(ctx context.Context, cat *catalog.Store, p *plan, progress func(what string, n int, d time.Duration)) (catalogCounts, error) {
	var n catalogCounts
	stores := make([]*catalog.Store, catalogWorkers)
	for i := range stores {
		stores[i] = cat
	}
	step := func(what string, count int, fn func(s *catalog.Store, i int) error) error {
		t := time.Now()
		err := parallel(ctx, stores, count, fn)
		progress(what, count, time.Since(t))
		return err
	}
	if err := step("partners", len(p.partners), func(s *catalog.Store, i int) error {
		pp := p.partners[i]
		_, err := s.AddPartner(ctx, catalog.Partner{ID: pp.ID, Name: pp.Name, Domains: []string{pp.Domain}, Countries: pp.Countries}, Actor)
		return err
	}); err != nil {
		return n, err
	}
	n.Partners = len(p.partners)
	if err := step("partnerships", len(p.partnerships), func(s *catalog.Store, i int) error {
		ps := &p.partnerships[i]
		_, err := s.AddPartnership(ctx, catalog.Partnership{ID: ps.ID, Partner: ps.Partner, Country: ps.Country, Direction: ps.Direction}, Actor)
		return err
	}); err != nil {
		return n, err
	}
	n.Partnerships = len(p.partnerships)
	if err := step("terms", len(p.partnerships), func(s *catalog.Store, i int) error {
		ps := &p.partnerships[i]
		_, err := s.SetTerms(ctx, ps.ID, ps.Terms, Actor)
		return err
	}); err != nil {
		return n, err
	}
	n.Terms = len(p.partnerships)
	type ref struct{ ps, link int }
	var links []ref
	for i := range p.partnerships {
		for j := range p.partnerships[i].Links {
			links = append(links, ref{i, j})
		}
	}
	if err := step("links", len(links), func(s *catalog.Store, i int) error {
		ps := &p.partnerships[links[i].ps]
		l := ps.Links[links[i].link]
		_, err := s.AddLink(ctx, catalog.Link{Code: l.Code, Partnership: ps.ID, Direction: l.Direction, URL: l.URL, Campaign: l.Campaign}, Actor)
		return err
	}); err != nil {
		return n, err
	}
	n.Links = len(links)
	return n, nil
}

// parallel runs fn(store, i) for i in [0, n), one store per goroutine,
// and returns the first error; the first error stops the feeding.
func parallel(ctx context.Context, stores []*catalog.Store, n int, fn func(*catalog.Store, int) error) error {
	workers, wctx := errgroup.WithContext(ctx)
	next := make(chan int)
	for _, s := range stores {
		workers.Go(func() error {
			for i := range next {
				if err := fn(s, i); err != nil {
					return err
				}
			}
			return nil
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-wctx.Done():
			break feed
		}
	}
	close(next)
	if err := workers.Wait(); err != nil {
		return err
	}
	return context.Cause(ctx)
}
