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
	"github.com/xpromo/xpromo/schema"
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
		x := catalog.Partner{ID: pp.ID, Name: pp.Name, Domains: []string{d}, Status: catalog.StatusActive, Countries: countries}
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
		x := catalog.Partnership{ID: ps.ID, Partner: ps.Partner, Country: ps.Country, Direction: ps.Direction}
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
				Campaign: l.Campaign, Status: catalog.StatusActive, CreatedBy: Actor}
			out.links = append(out.links, x)
			if err := audit(catalog.ActionCreate, catalog.EntityLink, x.Code, ps.Country, x); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// writeCatalogBulk writes the catalog with one insert per table: the rows
// and audit entries catalog.Store would write one change at a time. The
// audit goes first, as with the Store. It then loads the catalog back
// and checks that every link resolves as the tracker will see it. The
// statements are the Store's (schema/tables.go); TestCatalogBulkMatchesStore
// checks that both store the same.
func writeCatalogBulk(ctx context.Context, conn driver.Conn, p *plan, now time.Time) (catalogCounts, error) {
	var n catalogCounts
	rows, err := p.catalogRows(now)
	if err != nil {
		return n, err
	}
	now = now.UTC()
	at, version := now.Truncate(time.Second), uint64(now.UnixNano())
	epoch := time.Unix(0, 0).UTC()
	if err := insertRows(ctx, conn, schema.AuditLog.Insert(), len(rows.audit), func(i int) []any {
		e := rows.audit[i]
		return []any{e.TS, e.ID, e.Actor, e.Action, e.Entity, e.EntityID, e.Country, e.Before, e.After}
	}); err != nil {
		return n, fmt.Errorf("audit: %w", err)
	}
	if err := insertRows(ctx, conn, schema.Partners.Insert(), len(rows.partners), func(i int) []any {
		x := rows.partners[i]
		return []any{x.ID, x.Name, x.Domains, x.Status, x.Countries, at, version}
	}); err != nil {
		return n, fmt.Errorf("partners: %w", err)
	}
	n.Partners = len(rows.partners)
	if err := insertRows(ctx, conn, schema.Partnerships.Insert(), len(rows.partnerships), func(i int) []any {
		x := rows.partnerships[i]
		return []any{x.ID, x.Partner, x.Country, x.Direction, at, version}
	}); err != nil {
		return n, fmt.Errorf("partnerships: %w", err)
	}
	n.Partnerships = len(rows.partnerships)
	if err := insertRows(ctx, conn, schema.PartnershipTerms.Insert(), len(rows.terms), func(i int) []any {
		t := rows.terms[i]
		end := epoch
		if !t.EndDate.IsZero() {
			end = t.EndDate
		}
		var mayLink uint8
		if t.PartnerMayCreateLinks {
			mayLink = 1
		}
		return []any{t.Partnership, t.Version, t.EffectiveFrom, t.Currency,
			t.InboundCPA, t.InboundRevSharePct, t.InboundRevenueWindowDays,
			t.OutboundCPA, t.OutboundRevSharePct, t.OutboundRevenueWindowDays,
			t.AttributionModel, t.AttributionWindowDays,
			t.TargetInboundUsersMonth, t.TargetOutboundUsersMonth,
			t.StartDate, end, t.Status, t.FallbackURL, mayLink,
			t.CreatedAt, t.CreatedBy}
	}); err != nil {
		return n, fmt.Errorf("terms: %w", err)
	}
	n.Terms = len(rows.terms)
	if err := insertRows(ctx, conn, schema.Links.Insert(), len(rows.links), func(i int) []any {
		l := rows.links[i]
		return []any{l.Code, l.Partnership, l.Partner, l.Direction, l.URL, l.Campaign, l.Status, epoch, l.CreatedBy, at, version}
	}); err != nil {
		return n, fmt.Errorf("links: %w", err)
	}
	n.Links = len(rows.links)

	snap, err := catalog.NewStore(conn).Load(ctx)
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
