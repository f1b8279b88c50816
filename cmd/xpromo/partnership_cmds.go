package main

// xpromo partnership: add, update, show and list partnerships, and set
// or list their terms. Helpers shared by the catalog commands are in
// catalog_cmds.go.

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
)

func partnershipCmd() *cobra.Command {
	return group("partnership SUBCOMMAND [flags]",
		sub{"add a partnership: --id ID --partner ID --country CC --direction inbound|outbound|both", partnershipAdd()},
		sub{"change a partnership's direction: --id ID --direction inbound|outbound|both", partnershipUpdate()},
		sub{"show a partnership and its terms versions: --id ID", partnershipShow()},
		sub{"list partnerships [--partner ID] [--country CC]", partnershipList()},
		sub{"set a partnership's terms or list their versions (xpromo partnership terms --help)", termsCmd()})
}

func partnershipAdd() *cobra.Command {
	var p catalog.Partnership
	f := newCmdFlags("partnership add", "partnership add --id ID --partner ID --country CC --direction inbound|outbound|both", `
Adds a partnership: one partner in one country. inbound: the partner sends
users to us; outbound: we send ours to the partner; both: the two-way deal.
Set its terms with xpromo partnership terms set.`)
	f.StringVar(&p.ID, "id", "", "partnership id: a-z, 0-9, '-', '_' (required)")
	f.StringVar(&p.Partner, "partner", "", "partner id (required)")
	f.StringVar(&p.Country, "country", "", "ISO 3166-1 alpha-2 country code (required)")
	f.StringVar(&p.Direction, "direction", vocab.Both, "inbound, outbound or both")
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if err := f.require("id", "partner", "country", "direction"); err != nil {
			return err
		}
		return f.withStore(ctx, func(store *catalog.Store) error {
			p, err := store.AddPartnership(ctx, p, cliActor())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "partnership %s added (partner %s, %s, %s)\n", p.ID, p.Partner, p.Country, p.Direction)
			return nil
		})
	})
}

func partnershipUpdate() *cobra.Command {
	var id, direction string
	f := newCmdFlags("partnership update", "partnership update --id ID --direction inbound|outbound|both", `
Changes a partnership's direction (its partner and country are fixed: a
different pair is a different agreement). Narrowing it is refused while
active links of the dropped direction exist: pause or archive them first.`)
	f.StringVar(&id, "id", "", "partnership id (required)")
	f.StringVar(&direction, "direction", "", "inbound, outbound or both (required)")
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if err := f.require("id", "direction"); err != nil {
			return err
		}
		return f.withStore(ctx, func(store *catalog.Store) error {
			snap, err := store.Load(ctx)
			if err != nil {
				return err
			}
			before, ok := snap.Partnerships[id]
			if !ok {
				return fmt.Errorf("partnership %q: %w", id, catalog.ErrNotFound)
			}
			ps, err := store.UpdatePartnership(ctx, id, catalog.PartnershipChange{Direction: &direction}, cliActor())
			if err != nil {
				return err
			}
			return printChange(stdout, "partnership "+id, before, ps)
		})
	})
}

// partnershipView is partnership show --json: the partnership and every
// version of its terms, oldest first.
type partnershipView struct {
	catalog.Partnership
	TermsInForce uint32          `json:"terms_in_force,omitempty"` // version; 0: none yet
	Terms        []catalog.Terms `json:"terms"`
}

func partnershipShow() *cobra.Command {
	var id string
	return listCatalog("partnership show", "--id ID", "Shows a partnership, its links by status and every version of its terms.",
		func(f *flags) { f.StringVar(&id, "id", "", "partnership id (required)") }, []string{"id"},
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			ps, ok := s.Partnerships[id]
			if !ok {
				return nil, fmt.Errorf("partnership %q: %w", id, catalog.ErrNotFound)
			}
			v := partnershipView{Partnership: ps, Terms: s.Terms[id]}
			if v.Terms == nil {
				v.Terms = []catalog.Terms{}
			}
			if t, ok := catalog.TermsInForce(v.Terms, clock()); ok {
				v.TermsInForce = t.Version
			}
			links := map[string]int{}
			for _, l := range s.Links {
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
				termsTable(w, v.Terms)
			}
			return v, nil
		})
}

func partnershipList() *cobra.Command {
	var partner, country string
	return listCatalog("partnership list", "[--partner ID] [--country CC]", "Lists the partnerships as stored in ClickHouse, with the status of the terms in force today.",
		func(f *flags) {
			f.StringVar(&partner, "partner", "", "only this partner's partnerships")
			f.StringVar(&country, "country", "", "only partnerships in this country (ISO alpha-2)")
		}, nil,
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			country = strings.ToUpper(strings.TrimSpace(country))
			fmt.Fprintln(w, "ID\tPARTNER\tCOUNTRY\tDIRECTION\tTERMS")
			out := []catalog.Partnership{}
			for _, k := range sortedKeys(s.Partnerships) {
				v := s.Partnerships[k]
				if (partner != "" && v.Partner != partner) || (country != "" && v.Country != country) {
					continue
				}
				out = append(out, v)
				terms := "-"
				if t, ok := catalog.TermsInForce(s.Terms[k], clock()); ok {
					terms = fmt.Sprintf("v%d %s", t.Version, t.Status)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", v.ID, v.Partner, v.Country, v.Direction, terms)
			}
			return out, nil
		})
}

// ---- partnership terms ----

func termsCmd() *cobra.Command {
	return group("terms SUBCOMMAND [flags]",
		sub{"store a new version of the terms: --partnership ID [--effective-from DATE] [field flags]", termsSet()},
		sub{"list every version of a partnership's terms: --partnership ID", termsVersions()})
}

// termsFlag is a flag of terms set: it sets one field of the terms from
// the flag's text, or says why it cannot.
type termsFlag struct {
	name, usage string
	set         catalog.TermsSetter
}

var termsFlags = []termsFlag{
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

func termsSet() *cobra.Command {
	var id, effective string
	var mayCreate bool
	f := newCmdFlags("partnership terms set", "partnership terms set --partnership ID [--effective-from YYYY-MM-DD] [--currency EUR] [--inbound-cpa 10] [...]", `
Stores a new version of a partnership's terms, in force from
--effective-from (default today, UTC) until a later version takes effect.
Fields whose flag is not given are those of the latest version, so
  xpromo partnership terms set --partnership acme-de --status paused
pauses the partnership from today and changes nothing else. A version may
not take effect before the latest one; setting what the latest version
already says stores nothing. Amounts are decimals (at most 4 places) in
--currency; percentages are in percent (12.5 means 12.5%).`)
	f.StringVar(&id, "partnership", "", "partnership id (required)")
	f.StringVar(&effective, "effective-from", "", "UTC day from which this version applies, YYYY-MM-DD (default today)")
	values := make([]string, len(termsFlags))
	for i, tf := range termsFlags {
		f.StringVar(&values[i], tf.name, "", tf.usage)
	}
	f.BoolVar(&mayCreate, "partner-may-create-links", false, "whether the partner's own API tokens may create links (--partner-may-create-links=false to stop)")
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if err := f.require("partnership"); err != nil {
			return err
		}
		from := clock().UTC().Truncate(24 * time.Hour)
		if effective != "" {
			var err error
			if from, err = parseDay("effective-from", effective); err != nil {
				return err
			}
		}
		set := f.given()
		return f.withStore(ctx, func(store *catalog.Store) error {
			snap, err := store.Load(ctx)
			if err != nil {
				return err
			}
			if _, ok := snap.Partnerships[id]; !ok {
				return fmt.Errorf("partnership %q: %w", id, catalog.ErrNotFound)
			}
			var t catalog.Terms
			var latest uint32
			if vs := snap.Terms[id]; len(vs) > 0 {
				t = vs[len(vs)-1]
				latest = t.Version
				t.Version, t.CreatedAt, t.CreatedBy = 0, time.Time{}, ""
			} else if !set["currency"] {
				return badFlag("currency", "is required for a partnership's first terms version")
			}
			t.EffectiveFrom = from
			for i, tf := range termsFlags {
				if !set[tf.name] {
					continue
				}
				if err := tf.set(&t, values[i]); err != nil {
					return badFlag(tf.name, "%s", err.Error())
				}
			}
			if set["partner-may-create-links"] {
				t.PartnerMayCreateLinks = mayCreate
			}
			if t.StartDate.IsZero() {
				t.StartDate = t.EffectiveFrom
			}
			got, err := store.SetTerms(ctx, id, t, cliActor())
			if err != nil {
				return err
			}
			if latest > 0 && got.Version <= latest {
				fmt.Fprintf(stdout, "partnership %s terms unchanged (version %d, effective from %s)\n", id, got.Version, dayOrDash(got.EffectiveFrom))
				return nil
			}
			fmt.Fprintf(stdout, "partnership %s terms version %d stored, effective from %s (%s)\n", id, got.Version, dayOrDash(got.EffectiveFrom), got.Status)
			return nil
		})
	})
}

func termsVersions() *cobra.Command {
	var id string
	return listCatalog("partnership terms versions", "--partnership ID", `
Lists every version of a partnership's terms, oldest first. IN FORCE marks
the version that applies today.`,
		func(f *flags) { f.StringVar(&id, "partnership", "", "partnership id (required)") }, []string{"partnership"},
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			if _, ok := s.Partnerships[id]; !ok {
				return nil, fmt.Errorf("partnership %q: %w", id, catalog.ErrNotFound)
			}
			vs := s.Terms[id]
			if vs == nil {
				vs = []catalog.Terms{}
			}
			termsTable(w, vs)
			return vs, nil
		})
}

// termsTable writes terms versions as a table.
func termsTable(w io.Writer, vs []catalog.Terms) {
	inForce, _ := catalog.TermsInForce(vs, clock())
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
