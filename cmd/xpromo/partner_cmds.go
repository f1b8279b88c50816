package main

// xpromo partner: add, update, archive, show and list partners (their
// postback secrets are in secret_cmds.go). Helpers shared by the catalog
// commands are in catalog_cmds.go.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/domain/catalog"
)

func partnerCmd() *cobra.Command {
	return group("partner SUBCOMMAND [flags]",
		sub{"add a partner: --id ID --name NAME [--domains a.example,b.example] [--countries DE,FR]", partnerAdd()},
		sub{"change a partner: --id ID [--name N] [--domains D,...] [--countries CC,...] [--status S]", partnerUpdate(false)},
		sub{"archive a partner: --id ID", partnerUpdate(true)},
		sub{"show a partner and its partnerships: --id ID", partnerShow()},
		sub{"list partners [--status active|archived]", partnerList()},
		sub{"rotate or list a partner's postback secrets: secret rotate|list --id ID", partnerSecretCmd()})
}

func partnerAdd() *cobra.Command {
	var p catalog.Partner
	var domains, countries string
	f := newCmdFlags("partner add", "partner add --id ID --name NAME [--domains a.example,b.example] [--countries DE,FR]", `
Adds a partner. Outbound links (we send our users to the partner) may only
lead to the partner's domains and their subdomains. --countries are the
countries whose managers see the partner before it has a partnership there.`)
	f.StringVar(&p.ID, "id", "", "partner id: a-z, 0-9, '-', '_' (required)")
	f.StringVar(&p.Name, "name", "", "display name (required)")
	f.StringVar(&domains, "domains", "", "comma-separated domains the partner owns")
	f.StringVar(&countries, "countries", "", "comma-separated ISO 3166-1 alpha-2 codes")
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if err := f.require("id", "name"); err != nil {
			return err
		}
		p.Domains, p.Countries = splitList(domains), splitList(countries)
		return f.withStore(ctx, func(store *catalog.Store) error {
			p, err := store.AddPartner(ctx, p, cliActor())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "partner %s added (%s, domains: %s, countries: %s)\n", p.ID, p.Name, dash(strings.Join(p.Domains, ",")), dash(strings.Join(p.Countries, ",")))
			return nil
		})
	})
}

// partnerUpdate is partner update, or partner archive when archive.
func partnerUpdate(archive bool) *cobra.Command {
	var id, name, domains, countries, status string
	var f *cmdFlags
	if archive {
		f = newCmdFlags("partner archive", "partner archive --id ID", `
Archives a partner: it stays in reports and the audit log, but no new
partnership can be added for it. Undo with
  xpromo partner update --id ID --status active`)
	} else {
		f = newCmdFlags("partner update", "partner update --id ID [--name N] [--domains D,...] [--countries CC,...] [--status active|archived]", `
Changes a partner; only the flags given change (--domains '' removes every
domain). Removing a domain makes outbound links to it answer 404.`)
		f.StringVar(&name, "name", "", "display name")
		f.StringVar(&domains, "domains", "", "comma-separated domains the partner owns (replaces the list)")
		f.StringVar(&countries, "countries", "", "comma-separated ISO 3166-1 alpha-2 codes (replaces the list)")
		f.StringVar(&status, "status", "", "active or archived")
	}
	f.StringVar(&id, "id", "", "partner id (required)")
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if err := f.require("id"); err != nil {
			return err
		}
		var ch catalog.PartnerChange
		if archive {
			status = catalog.StatusArchived
			ch.Status = &status
		} else {
			if err := f.requireOne("name", "domains", "countries", "status"); err != nil {
				return err
			}
			set := f.given()
			if set["name"] {
				ch.Name = &name
			}
			if set["domains"] {
				d := splitList(domains)
				ch.Domains = &d
			}
			if set["countries"] {
				c := splitList(countries)
				ch.Countries = &c
			}
			if set["status"] {
				ch.Status = &status
			}
		}
		return f.withStore(ctx, func(store *catalog.Store) error {
			snap, err := store.Load(ctx)
			if err != nil {
				return err
			}
			before, ok := snap.Partners[id]
			if !ok {
				return fmt.Errorf("partner %q: %w", id, catalog.ErrNotFound)
			}
			p, err := store.UpdatePartner(ctx, id, ch, cliActor())
			if err != nil {
				return err
			}
			if archive {
				if before.Status == catalog.StatusArchived {
					fmt.Fprintf(stdout, "partner %s was already archived\n", id)
				} else {
					fmt.Fprintf(stdout, "partner %s archived\n", id)
				}
				return nil
			}
			return printChange(stdout, "partner "+id, before, p)
		})
	})
}

func partnerShow() *cobra.Command {
	var id string
	return listCatalog("partner show", "--id ID", "Shows a partner and its partnerships.",
		func(f *flags) { f.StringVar(&id, "id", "", "partner id (required)") }, []string{"id"},
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			p, ok := s.Partners[id]
			if !ok {
				return nil, fmt.Errorf("partner %q: %w", id, catalog.ErrNotFound)
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
			fmt.Fprintf(w, "domains:\t%s\n", dash(strings.Join(p.Domains, ",")))
			fmt.Fprintf(w, "countries:\t%s\n", dash(strings.Join(p.Countries, ",")))
			fmt.Fprintf(w, "partnerships:\t%s\n", dash(strings.Join(pss, ", ")))
			return p, nil
		})
}

func partnerList() *cobra.Command {
	var status string
	return listCatalog("partner list", "[--status active|archived]", "Lists the partners as stored in ClickHouse.",
		func(f *flags) {
			f.StringVar(&status, "status", "", "only partners with this status: active or archived")
		}, nil,
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			switch status {
			case "", catalog.StatusActive, catalog.StatusArchived:
			default:
				return nil, badFlag("status", "%q: want active or archived", status)
			}
			fmt.Fprintln(w, "ID\tNAME\tSTATUS\tDOMAINS\tCOUNTRIES")
			out := []catalog.Partner{}
			for _, k := range sortedKeys(s.Partners) {
				v := s.Partners[k]
				if status != "" && v.Status != status {
					continue
				}
				out = append(out, v)
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", v.ID, v.Name, v.Status, dash(strings.Join(v.Domains, ",")), dash(strings.Join(v.Countries, ",")))
			}
			return out, nil
		})
}
