package admin

// Partnerships and the versions of their terms.

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
)

// AddPartnership adds p.
func (c *Catalog) AddPartnership(ctx context.Context, p catalog.Partnership) error {
	p, err := c.store.AddPartnership(ctx, p, c.Actor)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "partnership %s added (partner %s, %s, %s)\n", p.ID, p.Partner, p.Country, p.Direction)
	return nil
}

// SetDirection changes partnership id's direction and reports the change.
func (c *Catalog) SetDirection(ctx context.Context, id, direction string) error {
	return update(ctx, c, "partnership", id, partnerships, func() (catalog.Partnership, error) {
		return c.store.UpdatePartnership(ctx, id, catalog.PartnershipChange{Direction: &direction}, c.Actor)
	})
}

// PartnershipView is partnership show --json: the partnership and every
// version of its terms, oldest first.
type PartnershipView struct {
	catalog.Partnership
	TermsInForce uint32          `json:"terms_in_force,omitempty"` // version; 0: none yet
	Terms        []catalog.Terms `json:"terms"`
}

// ShowPartnership writes partnership id, its links by status and its
// terms versions, marking the one in force at now.
func ShowPartnership(w *tabwriter.Writer, s *catalog.Snapshot, id string, now time.Time) (any, error) {
	ps, ok := s.Partnerships[id]
	if !ok {
		return nil, notFound("partnership", id)
	}
	v := PartnershipView{Partnership: ps, Terms: s.Terms[id]}
	if v.Terms == nil {
		v.Terms = []catalog.Terms{}
	}
	if t, ok := catalog.TermsInForce(v.Terms, now); ok {
		v.TermsInForce = t.Version
	}
	links := map[string]int{}
	for _, l := range s.Links.All() {
		if l.Partnership == id {
			links[l.Status]++
		}
	}
	var counts []string
	for _, st := range []string{catalog.StatusActive, catalog.StatusPaused, catalog.StatusArchived} {
		if links[st] > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", links[st], st))
		}
	}
	partner := ps.Partner
	if p, ok := s.Partners[ps.Partner]; ok {
		partner += " (" + p.Name + ")"
	}
	inForce := "none"
	if v.TermsInForce > 0 {
		inForce = "version " + strconv.FormatUint(uint64(v.TermsInForce), 10)
	}
	fmt.Fprintf(w, "id:\t%s\n", ps.ID)
	fmt.Fprintf(w, "partner:\t%s\n", partner)
	fmt.Fprintf(w, "country:\t%s\n", ps.Country)
	fmt.Fprintf(w, "direction:\t%s\n", ps.Direction)
	fmt.Fprintf(w, "links:\t%s\n", dash(strings.Join(counts, ", ")))
	fmt.Fprintf(w, "terms in force:\t%s\n", inForce)
	if err := w.Flush(); err != nil {
		return nil, err
	}
	if len(v.Terms) > 0 {
		fmt.Fprintln(w, "\nTerms versions:")
		termsTable(w, v.Terms, now)
	}
	return v, nil
}

// ListPartnerships writes the partnerships of partner in country ("":
// any) with the terms in force at now.
func ListPartnerships(w io.Writer, s *catalog.Snapshot, partner, country string, now time.Time) (any, error) {
	country = strings.ToUpper(strings.TrimSpace(country))
	fmt.Fprintln(w, "ID\tPARTNER\tCOUNTRY\tDIRECTION\tTERMS")
	out := []catalog.Partnership{}
	for _, k := range sortedKeys(s.Partnerships) {
		v := s.Partnerships[k]
		if !match(partner, v.Partner) || !match(country, v.Country) {
			continue
		}
		out = append(out, v)
		terms := "-"
		if t, ok := catalog.TermsInForce(s.Terms[k], now); ok {
			terms = fmt.Sprintf("v%d %s", t.Version, t.Status)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", v.ID, v.Partner, v.Country, v.Direction, terms)
	}
	return out, nil
}

// TermsVersions writes every version of partnership id's terms.
func TermsVersions(w io.Writer, s *catalog.Snapshot, id string, now time.Time) (any, error) {
	if _, ok := s.Partnerships[id]; !ok {
		return nil, notFound("partnership", id)
	}
	vs := s.Terms[id]
	if vs == nil {
		vs = []catalog.Terms{}
	}
	termsTable(w, vs, now)
	return vs, nil
}

// termsTable writes terms versions as a table, marking the one in force
// at now.
func termsTable(w io.Writer, vs []catalog.Terms, now time.Time) {
	inForce, _ := catalog.TermsInForce(vs, now)
	fmt.Fprintln(w, "VERSION\tIN FORCE\tEFFECTIVE\tSTATUS\tCURRENCY\tIN CPA\tIN REVSHARE %\tOUT CPA\tOUT REVSHARE %\tATTRIBUTION\tSTART\tEND\tFALLBACK\tCREATED BY")
	for _, t := range vs {
		mark := ""
		if t.Version == inForce.Version && inForce.Version > 0 {
			mark = "*"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s %dd\t%s\t%s\t%s\t%s\n",
			t.Version, mark, dayOrDash(t.EffectiveFrom), t.Status, t.Currency,
			t.InboundCPA, t.InboundRevSharePct, t.OutboundCPA, t.OutboundRevSharePct,
			t.AttributionModel, t.AttributionWindowDays, dayOrDash(t.StartDate), dayOrDash(t.EndDate),
			dash(t.FallbackURL), t.CreatedBy)
	}
}

// TermsField is a field of the terms `partnership terms set` sets from a
// flag of its name: the flag's help, and how its text sets the field.
type TermsField struct {
	Name, Usage string
	Set         catalog.TermsSetter
}

// TermsFields are the fields of the terms set by name.
var TermsFields = []TermsField{
	{"currency", "ISO 4217 currency of the amounts, e.g. EUR (required for the first version)", catalog.StringSetter(func(t *catalog.Terms) *string { return &t.Currency })},
	{"inbound-cpa", "what we pay the partner per user it sends us, e.g. 10 or 12.5 (at most 4 decimals)", catalog.DecimalSetter(func(t *catalog.Terms) *decimal.Decimal { return &t.InboundCPA })},
	{"inbound-revshare-pct", "percent of a user's revenue we pay the partner for users it sends us", catalog.DecimalSetter(func(t *catalog.Terms) *decimal.Decimal { return &t.InboundRevSharePct })},
	{"inbound-revenue-window-days", "days of an inbound user's revenue the rev-share covers (default 365)", catalog.DaysSetter(func(t *catalog.Terms) *uint16 { return &t.InboundRevenueWindowDays })},
	{"outbound-cpa", "what the partner pays us per user we send it", catalog.DecimalSetter(func(t *catalog.Terms) *decimal.Decimal { return &t.OutboundCPA })},
	{"outbound-revshare-pct", "percent of a user's revenue the partner pays us for users we send it", catalog.DecimalSetter(func(t *catalog.Terms) *decimal.Decimal { return &t.OutboundRevSharePct })},
	{"outbound-revenue-window-days", "days of an outbound user's revenue the rev-share covers (default 365)", catalog.DaysSetter(func(t *catalog.Terms) *uint16 { return &t.OutboundRevenueWindowDays })},
	{"attribution-model", "last_click or first_click (default last_click)", catalog.StringSetter(func(t *catalog.Terms) *string { return &t.AttributionModel })},
	{"attribution-window-days", "days after a click a conversion is attributed to it (default 30)", catalog.DaysSetter(func(t *catalog.Terms) *uint16 { return &t.AttributionWindowDays })},
	{"target-inbound-users-month", "target of inbound users per month (0: none)", catalog.UsersSetter(func(t *catalog.Terms) *uint32 { return &t.TargetInboundUsersMonth })},
	{"target-outbound-users-month", "target of outbound users per month (0: none)", catalog.UsersSetter(func(t *catalog.Terms) *uint32 { return &t.TargetOutboundUsersMonth })},
	{"start-date", "first day of the agreement, YYYY-MM-DD (default: --effective-from of the first version)", catalog.DateSetter(func(t *catalog.Terms) *time.Time { return &t.StartDate }, false)},
	{"end-date", "last day of the agreement, YYYY-MM-DD; '' for open-ended", catalog.DateSetter(func(t *catalog.Terms) *time.Time { return &t.EndDate }, true)},
	{"status", "active, paused or archived (default active)", catalog.StringSetter(func(t *catalog.Terms) *string { return &t.Status })},
	{"fallback-url", "where paused, archived or expired links redirect; '' for none", catalog.StringSetter(func(t *catalog.Terms) *string { return &t.FallbackURL })},
}

// SetTerms stores a new version of partnership id's terms, in force from
// the UTC day from: the latest version with the fields of TermsFields
// that given names set from their text in values (values[i] is that of
// TermsFields[i]), and PartnerMayCreateLinks set to mayCreate if given
// names "partner-may-create-links".
func (c *Catalog) SetTerms(ctx context.Context, id string, from time.Time, given map[string]bool, values []string, mayCreate bool) error {
	snap, err := c.store.Load(ctx)
	if err != nil {
		return err
	}
	if _, ok := snap.Partnerships[id]; !ok {
		return notFound("partnership", id)
	}
	var t catalog.Terms
	var latest uint32
	if vs := snap.Terms[id]; len(vs) > 0 {
		t = vs[len(vs)-1]
		latest = t.Version
		t.Version, t.CreatedAt, t.CreatedBy = 0, time.Time{}, ""
	} else if !given["currency"] {
		return &catalog.FieldError{Field: "currency", Reason: "is required for a partnership's first terms version"}
	}
	t.EffectiveFrom = from
	if _, err := applyTermsFlags(&t, given, values, mayCreate); err != nil {
		return err
	}
	if t.StartDate.IsZero() {
		t.StartDate = t.EffectiveFrom
	}
	got, err := c.store.SetTerms(ctx, id, t, c.Actor)
	if err != nil {
		return err
	}
	if latest > 0 && got.Version <= latest {
		fmt.Fprintf(c.Out, "partnership %s terms unchanged (version %d, effective from %s)\n", id, got.Version, dayOrDash(got.EffectiveFrom))
		return nil
	}
	fmt.Fprintf(c.Out, "partnership %s terms version %d stored, effective from %s (%s)\n", id, got.Version, dayOrDash(got.EffectiveFrom), got.Status)
	return nil
}
