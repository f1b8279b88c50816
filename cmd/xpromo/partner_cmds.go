package main

// xpromo partner: add, update, archive, show and list partners, and
// rotate or list the HMAC secrets partners sign their postbacks with
// (docs/POSTBACKS.md). Secrets are stored sealed with the server key
// (XPROMO_SECRET_KEY, or the key file), so partner secret must use the
// same key as the servers. Helpers shared by the catalog commands are in
// catalog_cmds.go.

import (
	"context"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app/admin"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/lib/secrets"
)

func partnerCmd() *cobra.Command {
	return group("partner SUBCOMMAND [flags]",
		sub{"add a partner: --id ID --name NAME [--domains a.example,b.example] [--countries DE,FR]", partnerAdd()},
		sub{"change a partner: --id ID [--name N] [--domains D,...] [--countries CC,...] [--status S]", partnerUpdate()},
		sub{"archive a partner: --id ID", partnerArchive()},
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
	return f.runStore(func() error {
		p.Domains, p.Countries = admin.SplitList(domains), admin.SplitList(countries)
		return f.require("id", "name")
	}, func(ctx context.Context, c *admin.Catalog) error { return c.AddPartner(ctx, p) })
}

func partnerUpdate() *cobra.Command {
	var id, name, domains, countries, status string
	var ch catalog.PartnerChange
	f := newCmdFlags("partner update", "partner update --id ID [--name N] [--domains D,...] [--countries CC,...] [--status active|archived]", `
Changes a partner; only the flags given change (--domains '' removes every
domain). Removing a domain makes outbound links to it answer 404.`)
	f.StringVar(&name, "name", "", "display name")
	f.StringVar(&domains, "domains", "", "comma-separated domains the partner owns (replaces the list)")
	f.StringVar(&countries, "countries", "", "comma-separated ISO 3166-1 alpha-2 codes (replaces the list)")
	f.StringVar(&status, "status", "", "active or archived")
	f.StringVar(&id, "id", "", "partner id (required)")
	return f.runStore(func() error {
		if err := f.requireChange("id", "name", "domains", "countries", "status"); err != nil {
			return err
		}
		set := f.given()
		d, c := admin.SplitList(domains), admin.SplitList(countries)
		ch = catalog.PartnerChange{Name: ifSet(set["name"], &name), Domains: ifSet(set["domains"], &d),
			Countries: ifSet(set["countries"], &c), Status: ifSet(set["status"], &status)}
		return nil
	}, func(ctx context.Context, c *admin.Catalog) error { return c.UpdatePartner(ctx, id, ch) })
}

func partnerArchive() *cobra.Command {
	var id string
	f := newCmdFlags("partner archive", "partner archive --id ID", `
Archives a partner: it stays in reports and the audit log, but no new
partnership can be added for it. Undo with
  xpromo partner update --id ID --status active`)
	f.StringVar(&id, "id", "", "partner id (required)")
	return f.runStore(func() error { return f.require("id") },
		func(ctx context.Context, c *admin.Catalog) error { return c.ArchivePartner(ctx, id) })
}

func partnerShow() *cobra.Command {
	var id string
	return listCatalog("partner show", "--id ID", "Shows a partner and its partnerships.",
		func(f *flags) { f.StringVar(&id, "id", "", "partner id (required)") }, []string{"id"},
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) { return admin.ShowPartner(w, s, id) })
}

func partnerList() *cobra.Command {
	var status string
	return listCatalog("partner list", "[--status active|archived]", "Lists the partners as stored in ClickHouse.",
		func(f *flags) {
			f.StringVar(&status, "status", "", "only partners with this status: active or archived")
		}, nil,
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) { return admin.ListPartners(w, s, status) })
}

// ---- partner secret ----

func partnerSecretCmd() *cobra.Command {
	return group("secret SUBCOMMAND [flags]",
		sub{"make a new postback secret for a partner: --id ID (the previous one stays valid until the next rotation)", partnerSecretRotate()},
		sub{"list a partner's postback secret versions, never the secrets: --id ID", partnerSecretList()})
}

func partnerSecretRotate() *cobra.Command {
	var c common
	var id, keyFile string
	f := newFlags("partner secret rotate", "partner secret rotate --id ID", `
Makes a new secret for the partner's signed postbacks and prints it once on
stdout: only a sealed copy is stored, it cannot be shown again. The previous
secret stays valid until the next rotation, so the partner can switch
without losing postbacks; older secrets are revoked. Running servers use
the new secret within seconds.

The secret is sealed with the server key: `+secrets.EnvKey+` (32 bytes,
base64 or hex) when set, otherwise --secret-key-file. Use the same key as
the servers; a key that cannot open the secrets already stored is refused.`)
	c.register(f, false)
	f.StringVar(&id, "id", "", "partner id (required)")
	f.String(&keyFile, "secret-key-file", secrets.DefaultFile(), "server key file, used when "+secrets.EnvKey+" is not set; created (mode 0600) when missing")
	return c.run(f, func(ctx context.Context, e *admin.Env) error {
		if err := requireFlag(f, "id"); err != nil {
			return err
		}
		return e.RotateSecret(ctx, id, keyFile)
	})
}

func partnerSecretList() *cobra.Command {
	var id string
	l := listFlags("partner secret list", "--id ID", `
Lists the versions of a partner's postback secret: when and by whom each
was made and whether it is active (the newest two not revoked) or revoked.
Secrets are never shown.`, func(f *flags) {
		f.StringVar(&id, "id", "", "partner id (required)")
	}, "id")
	return l.run(func(ctx context.Context, e *admin.Env, format string) error { return e.ListSecrets(ctx, id, format) })
}
