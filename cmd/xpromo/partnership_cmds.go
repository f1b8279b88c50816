package main

// xpromo partnership: add, update, show and list partnerships, and set
// or list their terms. Helpers shared by the catalog commands are in
// catalog_cmds.go.

import (
	"context"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app/admin"
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
	return f.runStore(func() error { return f.require("id", "partner", "country", "direction") },
		func(ctx context.Context, c *admin.Catalog) error { return c.AddPartnership(ctx, p) })
}

func partnershipUpdate() *cobra.Command {
	var id, direction string
	f := newCmdFlags("partnership update", "partnership update --id ID --direction inbound|outbound|both", `
Changes a partnership's direction (its partner and country are fixed: a
different pair is a different agreement). Narrowing it is refused while
active links of the dropped direction exist: pause or archive them first.`)
	f.StringVar(&id, "id", "", "partnership id (required)")
	f.StringVar(&direction, "direction", "", "inbound, outbound or both (required)")
	return f.runStore(func() error { return f.require("id", "direction") },
		func(ctx context.Context, c *admin.Catalog) error { return c.SetDirection(ctx, id, direction) })
}

func partnershipShow() *cobra.Command {
	var id string
	return listCatalog("partnership show", "--id ID", "Shows a partnership, its links by status and every version of its terms.",
		func(f *flags) { f.StringVar(&id, "id", "", "partnership id (required)") }, []string{"id"},
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			return admin.ShowPartnership(w, s, id, clock())
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
			return admin.ListPartnerships(w, s, partner, country, clock())
		})
}

// ---- partnership terms ----

func termsCmd() *cobra.Command {
	return group("terms SUBCOMMAND [flags]",
		sub{"store a new version of the terms: --partnership ID [--effective-from DATE] [field flags]", termsSet()},
		sub{"list every version of a partnership's terms: --partnership ID", termsVersions()})
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
	values := make([]string, len(admin.TermsFields))
	for i, tf := range admin.TermsFields {
		f.StringVar(&values[i], tf.Name, "", tf.Usage)
	}
	f.BoolVar(&mayCreate, "partner-may-create-links", false, "whether the partner's own API tokens may create links (--partner-may-create-links=false to stop)")
	var from time.Time
	return f.runStore(func() (err error) {
		if err = f.require("partnership"); err != nil {
			return err
		}
		from = clock().UTC().Truncate(24 * time.Hour)
		if effective != "" {
			from, err = admin.ParseDay("effective-from", effective)
		}
		return err
	}, func(ctx context.Context, c *admin.Catalog) error {
		return c.SetTerms(ctx, id, from, f.given(), values, mayCreate)
	})
}

func termsVersions() *cobra.Command {
	var id string
	return listCatalog("partnership terms versions", "--partnership ID", `
Lists every version of a partnership's terms, oldest first. IN FORCE marks
the version that applies today.`,
		func(f *flags) { f.StringVar(&id, "partnership", "", "partnership id (required)") }, []string{"partnership"},
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			return admin.TermsVersions(w, s, id, clock())
		})
}
