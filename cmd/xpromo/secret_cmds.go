package main

// partner secret rotate|list: the HMAC secrets partners sign their
// postbacks with (docs/POSTBACKS.md). Secrets are stored sealed with the
// server key (XPROMO_SECRET_KEY, or the key file), so this command must
// use the same key as the servers.

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app/admin"
	"github.com/xpromo/xpromo/lib/secrets"
)

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
	_, l := listFlags("partner secret list", "--id ID", `
Lists the versions of a partner's postback secret: when and by whom each
was made and whether it is active (the newest two not revoked) or revoked.
Secrets are never shown.`, func(f *flags) {
		f.StringVar(&id, "id", "", "partner id (required)")
	}, "id")
	return l.run(func(ctx context.Context, e *admin.Env, format string) error { return e.ListSecrets(ctx, id, format) })
}
