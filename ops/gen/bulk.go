package gen

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/ids"
)

// catalogRows is the catalog as catalog.Store would store it.
type catalogRows struct {
	partners     []catalog.Partner
	partnerships []catalog.Partnership
	terms        []catalog.Terms
	links        []catalog.Link
	audit        []catalog.AuditEntry
}

// catalogRows validates the plan's catalog with the catalog package's own
// checks and normalises it as catalog.Store does (sorted domains and
// countries, defaults of the terms, version 1, created by Actor at now),
// with one audit entry per row.
func (p *plan) catalogRows(now time.Time) (*catalogRows, error) {
	now = now.UTC().Truncate(time.Second)
	out := &catalogRows{}
	audit := func(action, entity, id, country string, after any) error {
		b, err := json.Marshal(after)
		if err != nil {
			return err
		}
		out.audit = append(out.audit, catalog.AuditEntry{TS: now, ID: ids.New(now), Actor: Actor, Action: action,
			Entity: entity, EntityID: id, Country: country, After: string(b)})
		return nil
	}
	domains := map[string][]string{}
	for _, pp := range p.partners {
		if err := catalog.ValidID("id", pp.ID); err != nil {
			return nil, fmt.Errorf("partner %s: %w", pp.ID, err)
		}
		d, err := catalog.NormalizeDomain(pp.Domain)
		if err != nil {
			return nil, fmt.Errorf("partner %s: %w", pp.ID, err)
		}
		countries := slices.Clone(pp.Countries)
		for _, c := range countries {
			if err := catalog.ValidCountry("countries", c); err != nil {
				return nil, err
			}
		}
		slices.Sort(countries)
		if countries == nil {
			countries = []string{}
		}
		x := catalog.Partner{ID: pp.ID, Name: pp.Name, Domains: []string{d}, Status: catalog.StatusActive, Countries: countries, Version: 1}
		domains[x.ID] = x.Domains
		out.partners = append(out.partners, x)
		country := ""
		if len(countries) == 1 {
			country = countries[0]
		}
		if err := audit(catalog.ActionCreate, catalog.EntityPartner, x.ID, country, x); err != nil {
			return nil, err
		}
	}
	for i := range p.partnerships {
		ps := &p.partnerships[i]
		if err := catalog.ValidID("id", ps.ID); err != nil {
			return nil, err
		}
		if err := catalog.ValidCountry("country", ps.Country); err != nil {
			return nil, err
		}
		x := catalog.Partnership{ID: ps.ID, Partner: ps.Partner, Country: ps.Country, Direction: ps.Direction, Version: 1}
		out.partnerships = append(out.partnerships, x)
		if err := audit(catalog.ActionCreate, catalog.EntityPartnership, x.ID, x.Country, x); err != nil {
			return nil, err
		}
	}
	for i := range p.partnerships {
		ps := &p.partnerships[i]
		t := ps.Terms
		t.Partnership, t.Version, t.CreatedAt, t.CreatedBy = ps.ID, 1, now, Actor
		t.Defaults()
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("terms of %s: %w", ps.ID, err)
		}
		if (ps.Direction == vocab.Inbound && (!t.OutboundCPA.IsZero() || !t.OutboundRevSharePct.IsZero() || t.TargetOutboundUsersMonth != 0)) ||
			(ps.Direction == vocab.Outbound && (!t.InboundCPA.IsZero() || !t.InboundRevSharePct.IsZero() || t.TargetInboundUsersMonth != 0)) {
			return nil, fmt.Errorf("terms of %s: money for a direction it does not run", ps.ID)
		}
		out.terms = append(out.terms, t)
		if err := audit(catalog.ActionSetTerms, catalog.EntityPartnership, ps.ID, ps.Country, t); err != nil {
			return nil, err
		}
	}
	for i := range p.partnerships {
		ps := &p.partnerships[i]
		for _, l := range ps.Links {
			if !catalog.ValidCode(l.Code) {
				return nil, fmt.Errorf("link code %q", l.Code)
			}
			if _, err := catalog.ValidDestination(l.URL, l.Direction == vocab.Outbound, domains[ps.Partner]); err != nil {
				return nil, fmt.Errorf("link %s: %w", l.Code, err)
			}
			x := catalog.Link{Code: l.Code, Partnership: ps.ID, Partner: ps.Partner, Direction: l.Direction, URL: l.URL,
				Campaign: l.Campaign, Status: catalog.StatusActive, CreatedBy: Actor, Version: 1}
			out.links = append(out.links, x)
			if err := audit(catalog.ActionCreate, catalog.EntityLink, x.Code, ps.Country, x); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// writeCatalogBulk writes the catalog in one import (catalog.Store's
// Import): the rows and audit entries catalog.Store would write one change
// at a time. It then loads the catalog back and checks that every link
// resolves as the tracker will see it. TestCatalogBulkMatchesStore checks
// that both store the same.
func writeCatalogBulk(ctx context.Context, cat *catalog.Store, p *plan, now time.Time) (catalogCounts, error) {
	var n catalogCounts
	rows, err := p.catalogRows(now)
	if err != nil {
		return n, err
	}
	if err := cat.Import(ctx, catalog.Bulk{Partners: rows.partners, Partnerships: rows.partnerships, Terms: rows.terms,
		Links: rows.links, Audit: rows.audit}); err != nil {
		return n, err
	}
	n = catalogCounts{Partners: len(rows.partners), Partnerships: len(rows.partnerships), Terms: len(rows.terms), Links: len(rows.links)}
	snap, err := cat.Load(ctx)
	if err != nil {
		return n, err
	}
	for _, l := range rows.links {
		if snap.Lookup(l.Code) == nil {
			return n, fmt.Errorf("link %s does not resolve after the bulk write", l.Code)
		}
	}
	for _, t := range rows.terms {
		if len(snap.Terms[t.Partnership]) == 0 {
			return n, fmt.Errorf("terms of %s missing after the bulk write", t.Partnership)
		}
	}
	return n, nil
}

// insertRows appends row(i) for i in [0, n) to one batch and sends it.
func insertRows(ctx context.Context, conn driver.Conn, query string, n int, row func(int) []any) error {
	b, err := conn.PrepareBatch(ctx, query)
	if err != nil {
		return err
	}
	defer b.Close()
	for i := range n {
		if err := b.Append(row(i)...); err != nil {
			return err
		}
	}
	return b.Send()
}
