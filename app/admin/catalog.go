package admin

// The catalog's changes and listings: partners, partnerships, links.

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/ops/gen"
)

// Catalog is a catalog store with the Env of the command using it.
type Catalog struct {
	*Env
	store *catalog.Store
}

// WithCatalog runs fn with the catalog store, whose changes are announced.
func (e *Env) WithCatalog(ctx context.Context, fn func(*Catalog) error) error {
	return e.withConn(ctx, func(conn driver.Conn) error { return fn(&Catalog{Env: e, store: e.catalog()}) })
}

// List prints in format (Table or JSON) what table makes of the catalog:
// the table it writes, or the rows it returns.
func (e *Env) List(ctx context.Context, format string, table func(*tabwriter.Writer, *catalog.Snapshot) (any, error)) error {
	return e.withConn(ctx, func(conn driver.Conn) error {
		snap, err := e.snapshot(ctx)
		if err != nil {
			return err
		}
		return printRows(e.Out, format, func(tw *tabwriter.Writer) (any, error) { return table(tw, snap) })
	})
}

// notFound is the error of an id the catalog does not hold.
func notFound(what, id string) error { return fmt.Errorf("%s %q: %w", what, id, catalog.ErrNotFound) }

// lookup returns the thing of the catalog id names, or notFound.
func lookup[V any](ctx context.Context, c *Catalog, what, id string, of func(*catalog.Snapshot, string) (V, bool)) (V, error) {
	snap, err := c.store.Load(ctx)
	if err != nil {
		var zero V
		return zero, err
	}
	v, ok := of(snap, id)
	if !ok {
		return v, notFound(what, id)
	}
	return v, nil
}

func partners(s *catalog.Snapshot, id string) (catalog.Partner, bool) {
	v, ok := s.Partners[id]
	return v, ok
}

func partnerships(s *catalog.Snapshot, id string) (catalog.Partnership, bool) {
	v, ok := s.Partnerships[id]
	return v, ok
}

func links(s *catalog.Snapshot, code string) (catalog.Link, bool) { return s.Links.Get(code) }

// joined is a list as a table shows it.
func joined(list []string) string { return dash(strings.Join(list, ",")) }

// match reports whether got passes the filter want ("": anything).
func match(want, got string) bool { return want == "" || want == got }

// statusError refuses a status filter that is none of valid.
func statusError(status string, valid ...string) error {
	if status == "" || slices.Contains(valid, status) {
		return nil
	}
	return &catalog.FieldError{Field: "status", Reason: fmt.Sprintf("%q: want %s or %s", status, strings.Join(valid[:len(valid)-1], ", "), valid[len(valid)-1])}
}

// Demo seeds the demo partner, partnership and links and prints their
// tracking URLs under base.
func (c *Catalog) Demo(ctx context.Context, base string) error {
	if err := gen.SeedDemo(ctx, c.store, c.Actor); err != nil {
		return err
	}
	base = strings.TrimRight(base, "/")
	fmt.Fprintf(c.Out, "demo partnership acme-de ready: %s/r/demo (inbound), %s/r/demo-out (outbound)\n", base, base)
	return nil
}

// AddPartner adds p.
func (c *Catalog) AddPartner(ctx context.Context, p catalog.Partner) error {
	p, err := c.store.AddPartner(ctx, p, c.Actor)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "partner %s added (%s, domains: %s, countries: %s)\n", p.ID, p.Name, joined(p.Domains), joined(p.Countries))
	return nil
}

// update makes a change to the thing id of the catalog (what: "partner",
// "link") and reports the fields it changed.
func update[V any](ctx context.Context, c *Catalog, what, id string, of func(*catalog.Snapshot, string) (V, bool), change func() (V, error)) error {
	before, err := lookup(ctx, c, what, id, of)
	if err != nil {
		return err
	}
	after, err := change()
	if err != nil {
		return err
	}
	return printChange(c.Out, what+" "+id, before, after)
}

// UpdatePartner applies ch to partner id and reports what changed.
func (c *Catalog) UpdatePartner(ctx context.Context, id string, ch catalog.PartnerChange) error {
	return update(ctx, c, "partner", id, partners, func() (catalog.Partner, error) { return c.store.UpdatePartner(ctx, id, ch, c.Actor) })
}

// ArchivePartner archives partner id.
func (c *Catalog) ArchivePartner(ctx context.Context, id string) error {
	before, err := lookup(ctx, c, "partner", id, partners)
	if err != nil {
		return err
	}
	status := catalog.StatusArchived
	if _, err := c.store.UpdatePartner(ctx, id, catalog.PartnerChange{Status: &status}, c.Actor); err != nil {
		return err
	}
	if before.Status == catalog.StatusArchived {
		fmt.Fprintf(c.Out, "partner %s was already archived\n", id)
	} else {
		fmt.Fprintf(c.Out, "partner %s archived\n", id)
	}
	return nil
}

// ShowPartner writes partner id and its partnerships.
func ShowPartner(w io.Writer, s *catalog.Snapshot, id string) (any, error) {
	p, ok := s.Partners[id]
	if !ok {
		return nil, notFound("partner", id)
	}
	var pss []string
	for _, k := range sortedKeys(s.Partnerships) {
		if ps := s.Partnerships[k]; ps.Partner == id {
			pss = append(pss, fmt.Sprintf("%s (%s, %s)", ps.ID, ps.Country, ps.Direction))
		}
	}
	fmt.Fprintf(w, "id:\t%s\n", p.ID)
	fmt.Fprintf(w, "name:\t%s\n", p.Name)
	fmt.Fprintf(w, "status:\t%s\n", p.Status)
	fmt.Fprintf(w, "domains:\t%s\n", joined(p.Domains))
	fmt.Fprintf(w, "countries:\t%s\n", joined(p.Countries))
	fmt.Fprintf(w, "partnerships:\t%s\n", dash(strings.Join(pss, ", ")))
	return p, nil
}

// ListPartners writes the partners with status ("": any).
func ListPartners(w io.Writer, s *catalog.Snapshot, status string) (any, error) {
	if err := statusError(status, catalog.StatusActive, catalog.StatusArchived); err != nil {
		return nil, err
	}
	fmt.Fprintln(w, "ID\tNAME\tSTATUS\tDOMAINS\tCOUNTRIES")
	out := []catalog.Partner{}
	for _, k := range sortedKeys(s.Partners) {
		if v := s.Partners[k]; match(status, v.Status) {
			out = append(out, v)
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", v.ID, v.Name, v.Status, joined(v.Domains), joined(v.Countries))
		}
	}
	return out, nil
}

// AddLink adds l and prints its tracking URL under base.
func (c *Catalog) AddLink(ctx context.Context, l catalog.Link, base string) error {
	l, err := c.store.AddLink(ctx, l, c.Actor)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "link %s added: %s -> %s\n", l.Code, trackingURL(base, l.Code), l.URL)
	return nil
}

// UpdateLink applies ch to link code and reports what changed.
func (c *Catalog) UpdateLink(ctx context.Context, code string, ch catalog.LinkChange) error {
	return update(ctx, c, "link", code, links, func() (catalog.Link, error) { return c.store.UpdateLink(ctx, code, ch, c.Actor) })
}

// SetLinkStatus pauses, resumes (status active) or archives link code.
func (c *Catalog) SetLinkStatus(ctx context.Context, code, status string) error {
	before, err := lookup(ctx, c, "link", code, links)
	if err != nil {
		return err
	}
	if before.Status == status {
		fmt.Fprintf(c.Out, "link %s is already %s\n", code, status)
		return nil
	}
	if _, err := c.store.UpdateLink(ctx, code, catalog.LinkChange{Status: &status}, c.Actor); err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "link %s %s (was %s)\n", code, status, before.Status)
	return nil
}

// trackingURL is the tracking URL of link code under the tracker's
// public base URL.
func trackingURL(base, code string) string {
	return strings.TrimRight(base, "/") + "/r/" + code
}

// LinkView is link show --json: the link and its tracking URL.
type LinkView struct {
	catalog.Link
	TrackingURL string `json:"tracking_url"`
}

// ShowLink writes link code with its tracking URL under base.
func ShowLink(w io.Writer, s *catalog.Snapshot, code, base string) (any, error) {
	l, ok := s.Links.Get(code)
	if !ok {
		return nil, notFound("link", code)
	}
	v := LinkView{Link: l, TrackingURL: trackingURL(base, l.Code)}
	fmt.Fprintf(w, "code:\t%s\n", l.Code)
	fmt.Fprintf(w, "tracking url:\t%s\n", v.TrackingURL)
	fmt.Fprintf(w, "url:\t%s\n", l.URL)
	fmt.Fprintf(w, "partnership:\t%s\n", l.Partnership)
	fmt.Fprintf(w, "partner:\t%s\n", l.Partner)
	fmt.Fprintf(w, "direction:\t%s\n", l.Direction)
	fmt.Fprintf(w, "status:\t%s\n", l.Status)
	fmt.Fprintf(w, "campaign:\t%s\n", dash(l.Campaign))
	fmt.Fprintf(w, "expires:\t%s\n", timeOrNever(l.ExpiresAt))
	fmt.Fprintf(w, "created by:\t%s\n", dash(l.CreatedBy))
	return v, nil
}

// ListLinks writes the links of partnership and partner with status
// ("": any).
func ListLinks(w io.Writer, s *catalog.Snapshot, partnership, partner, status string) (any, error) {
	if err := statusError(status, catalog.StatusActive, catalog.StatusPaused, catalog.StatusArchived); err != nil {
		return nil, err
	}
	fmt.Fprintln(w, "CODE\tPARTNERSHIP\tDIRECTION\tSTATUS\tEXPIRES\tCAMPAIGN\tURL")
	out := []catalog.Link{}
	for _, k := range s.Links.Keys() {
		v, _ := s.Links.Get(k)
		if match(partnership, v.Partnership) && match(partner, v.Partner) && match(status, v.Status) {
			out = append(out, v)
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Code, v.Partnership, v.Direction, v.Status, timeOrNever(v.ExpiresAt), dash(v.Campaign), v.URL)
		}
	}
	return out, nil
}
