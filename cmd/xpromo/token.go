package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app/admin"
)

func apiTokenCmd() *cobra.Command {
	return group("token SUBCOMMAND [flags]",
		sub{"create an API token: --role ROLE [--country CC[,CC]] [--partner ID] [--name N] [--expires YYYY-MM-DD]", tokenCreate()},
		sub{"list API tokens (never their secrets)", tokenList()},
		sub{"revoke an API token: --id ID", tokenRevoke()})
}

func tokenCreate() *cobra.Command {
	var c common
	var r admin.TokenRequest
	f := newFlags("token create", "token create --role ROLE [--country CC[,CC]] [--partner ID] [--name N] [--expires YYYY-MM-DD]", `
Creates an API token and prints it once on stdout; only its hash is stored,
so it cannot be shown again. Roles:
  admin            everything
  country_manager  partnerships, links and reports of --country (one or more)
  partner          the links, results and statements of --partner
  finance          reads everything, statements and exports
  service          sends conversions only
Requests carry it as "Authorization: Bearer TOKEN".`)
	c.register(f, true)
	f.StringVar(&r.Role, "role", "", "admin, country_manager, partner, finance or service (required)")
	f.StringVar(&r.Countries, "country", "", "country_manager only: comma-separated ISO 3166-1 alpha-2 codes")
	f.StringVar(&r.Partner, "partner", "", "partner only: the partner id")
	f.StringVar(&r.Name, "name", "", "what the token is for, shown in lists")
	f.StringVar(&r.Expires, "expires", "", "UTC day, YYYY-MM-DD, at whose start (00:00 UTC) the token stops working; empty: never")
	return c.run(f, func(ctx context.Context, e *admin.Env) error { return e.CreateToken(ctx, r) })
}

func tokenList() *cobra.Command {
	l := listFlags("token list", "", "Lists API tokens: ids and what they may do, never secrets.", nil)
	return l.run(func(ctx context.Context, e *admin.Env, format string) error { return e.ListTokens(ctx, format) })
}

func tokenRevoke() *cobra.Command {
	var c common
	var id string
	f := newFlags("token revoke", "token revoke --id ID", `
Revokes an API token. Running servers (same Redis) are told at once and
refuse it within a second.`)
	c.register(f, true)
	f.StringVar(&id, "id", "", "token id, as xpromo token list shows it (required)")
	return c.run(f, func(ctx context.Context, e *admin.Env) error {
		if id == "" {
			fmt.Fprintln(e.Err, "--id is required")
			f.Usage()
			return errUsage
		}
		return e.RevokeToken(ctx, id)
	})
}
