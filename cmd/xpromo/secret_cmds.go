package main

// partner secret rotate|list: the HMAC secrets partners sign their
// postbacks with (docs/POSTBACKS.md). Secrets are stored sealed with the
// server key (XPROMO_SECRET_KEY, or the key file), so this command must
// use the same key as the servers.

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/postback"
	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/lib/secrets"
)

func partnerSecretCmd() *cobra.Command {
	return group("secret SUBCOMMAND [flags]",
		sub{"make a new postback secret for a partner: --id ID (the previous one stays valid until the next rotation)", partnerSecretRotate()},
		sub{"list a partner's postback secret versions, never the secrets: --id ID", partnerSecretList()})
}

func secretKeyFileFlag(f *flags, p *string) {
	f.String(p, "secret-key-file", secrets.DefaultFile(), "server key file, used when "+secrets.EnvKey+" is not set; created (mode 0600) when missing")
}

// requireID refuses, as a usage error, an empty --id.
func requireID(f *flags, id string) error {
	if strings.TrimSpace(id) == "" {
		fmt.Fprintf(f.Output(), "--id is required\n\n")
		f.Usage()
		return errUsage
	}
	return nil
}

// secretPartner returns partner id from the catalog.
func secretPartner(ctx context.Context, cat *catalog.Store, id string) (catalog.Partner, error) {
	snap, err := cat.Load(ctx)
	if err != nil {
		return catalog.Partner{}, err
	}
	p, ok := snap.Partners[id]
	if !ok {
		return p, fmt.Errorf("partner %q: %w", id, catalog.ErrNotFound)
	}
	return p, nil
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
	secretKeyFileFlag(f, &keyFile)
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if err := requireID(f, id); err != nil {
			return err
		}
		key, src, err := secrets.Load(keyFile)
		if err != nil {
			return err
		}
		conn, err := chdb.Open(ctx, c.ClickHouseURL, false)
		if err != nil {
			return err
		}
		defer conn.Close()
		cat := catalog.NewStore(conn).WithClock(clock)
		p, err := secretPartner(ctx, cat, id)
		if err != nil {
			return err
		}
		store := postback.NewStore(conn, key, nil).WithClock(clock)
		if err := store.CheckKey(ctx); err != nil {
			return fmt.Errorf("%w; set %s to the servers' key", err, secrets.EnvKey)
		}
		if src == secrets.FromCreatedFile {
			fmt.Fprintf(stderr, "note: created a new server key in %s (key id %s); the servers must use this key too (%s or the same file)\n", keyFile, key.ID(), secrets.EnvKey)
		}
		secret, err := store.Rotate(ctx, id, cliActor())
		if err != nil {
			return err
		}
		vs, err := store.List(ctx, id)
		if err != nil || len(vs) == 0 {
			return fmt.Errorf("secret of partner %s rotated, but it cannot be read back (%v): rotate again", id, err)
		}
		fmt.Fprintln(stdout, secret)
		prev := "there was no previous secret"
		for _, v := range vs[1:] {
			if v.Active {
				prev = "the previous secret (version " + strconv.FormatUint(uint64(v.Version), 10) + ") stays valid until the next rotation; older ones are revoked"
				break
			}
		}
		fmt.Fprintf(stderr, "secret version %d of partner %s created (sealed with the key from %s, id %s). It is shown only this once: give it to the partner now. Note: %s.\n",
			vs[0].Version, id, src, key.ID(), prev)
		if p.Status == catalog.StatusArchived {
			fmt.Fprintf(stderr, "warning: partner %s is archived: its postbacks are refused until it is active again\n", id)
		}
		if err := cat.Audit(ctx, postback.RotationAuditEntry(cliActor(), id, vs[0].Version, key.ID())); err != nil {
			return fmt.Errorf("secret of partner %s was rotated but its audit entry was not written: %w", id, err)
		}
		return nil
	})
}

func partnerSecretList() *cobra.Command {
	var id string
	f, l := listFlags("partner secret list", "--id ID", `
Lists the versions of a partner's postback secret: when and by whom each
was made and whether it is active (the newest two not revoked) or revoked.
Secrets are never shown.`, func(f *flags) {
		f.StringVar(&id, "id", "", "partner id (required)")
	}, "id")
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		c, format, err := l.parsed()
		if err != nil {
			return err
		}
		conn, err := chdb.Open(ctx, c.ClickHouseURL, false)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := secretPartner(ctx, catalog.NewStore(conn).WithClock(clock), id); err != nil {
			return err
		}
		// Listing opens nothing: no server key is needed.
		vs, err := postback.NewStore(conn, nil, nil).WithClock(clock).List(ctx, id)
		if err != nil {
			return err
		}
		if format == "json" {
			if vs == nil {
				vs = []postback.Version{}
			}
			return printJSON(stdout, vs)
		}
		if len(vs) == 0 {
			fmt.Fprintf(stdout, "partner %s has no postback secret; make one with `xpromo partner secret rotate --id %s`\n", id, id)
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tCREATED\tCREATED BY\tSTATUS")
		for _, v := range vs {
			status := "revoked"
			switch {
			case v.Active:
				status = "active"
			case !v.Revoked:
				status = "inactive"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", v.Version, v.CreatedAt.UTC().Format(time.RFC3339), v.CreatedBy, status)
		}
		return tw.Flush()
	})
}
