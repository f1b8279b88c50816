package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app"
	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/lib/chdb"
)

func apiTokenCmd() *cobra.Command {
	return group("token SUBCOMMAND [flags]",
		sub{"create an API token: --role ROLE [--country CC[,CC]] [--partner ID] [--name N] [--expires YYYY-MM-DD]", tokenCreate()},
		sub{"list API tokens (never their secrets)", tokenList()},
		sub{"revoke an API token: --id ID", tokenRevoke()})
}

// openTokenStore connects for a token command: the tokens, and the
// catalog store whose audit log files token changes.
func openTokenStore(ctx context.Context, c *common) (*auth.Store, *catalog.Store, func(), error) {
	conn, err := chdb.Open(ctx, c.ClickHouseURL, false)
	if err != nil {
		return nil, nil, nil, err
	}
	return auth.NewStore(conn).WithClock(clock), catalog.NewStore(conn).WithClock(clock), func() {
		conn.Close()
		// Whatever the command changed, running trackers reload now.
		announce(context.Background(), c, app.TokensNotifier)
	}, nil
}

// auditToken files a token change in the audit log (auth.AuditEntry).
func auditToken(ctx context.Context, cat *catalog.Store, action string, before *auth.Token, after auth.Token) error {
	e, err := auth.AuditEntry(cliActor(), action, before, after)
	if err != nil {
		return err
	}
	if err := cat.Audit(ctx, e); err != nil {
		return fmt.Errorf("audit token %s: %w", after.ID, err)
	}
	return nil
}

func tokenCreate() *cobra.Command {
	var c common
	var role, countries, partner, name, expires string
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
	f.StringVar(&role, "role", "", "admin, country_manager, partner, finance or service (required)")
	f.StringVar(&countries, "country", "", "country_manager only: comma-separated ISO 3166-1 alpha-2 codes")
	f.StringVar(&partner, "partner", "", "partner only: the partner id")
	f.StringVar(&name, "name", "", "what the token is for, shown in lists")
	f.StringVar(&expires, "expires", "", "UTC day, YYYY-MM-DD, at whose start (00:00 UTC) the token stops working; empty: never")
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		spec := auth.Spec{Partner: partner, Name: name, CreatedBy: cliActor()}
		var err error
		if spec.Role, err = access.ParseRole(role); err != nil {
			return err
		}
		if countries != "" {
			spec.Countries = strings.Split(countries, ",")
		}
		if expires != "" {
			if spec.ExpiresAt, err = time.Parse(time.DateOnly, expires); err != nil {
				return fmt.Errorf("--expires %q: want YYYY-MM-DD", expires)
			}
		}
		store, cat, closeConn, err := openTokenStore(ctx, &c)
		if err != nil {
			return err
		}
		defer closeConn()
		tok, t, err := store.Create(ctx, spec)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tok)
		fmt.Fprintf(stderr, "token %s created (%s). It is shown only this once: store it now, it cannot be shown again.\n", t.ID, describeToken(t))
		// The token exists and works: a failed audit write is reported (exit
		// 1), not undone, and the token is still shown above.
		if err := auditToken(ctx, cat, catalog.ActionCreate, nil, t); err != nil {
			return fmt.Errorf("token %s was created but its audit entry was not written: %w", t.ID, err)
		}
		return nil
	})
}

func describeToken(t auth.Token) string {
	parts := []string{"role " + string(t.Role)}
	if len(t.Countries) > 0 {
		parts = append(parts, "countries "+strings.Join(t.Countries, ","))
	}
	if t.Partner != "" {
		parts = append(parts, "partner "+t.Partner)
	}
	parts = append(parts, "expires "+tokenTime(t.ExpiresAt, "never"))
	return strings.Join(parts, ", ")
}

func tokenTime(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func tokenList() *cobra.Command {
	f, l := listFlags("token list", "", "Lists API tokens: ids and what they may do, never secrets.", nil)
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		c, format, err := l.parsed()
		if err != nil {
			return err
		}
		store, _, closeConn, err := openTokenStore(ctx, &c)
		if err != nil {
			return err
		}
		defer closeConn()
		tokens, err := store.List(ctx)
		if err != nil {
			return err
		}
		if format == "json" {
			if tokens == nil {
				tokens = []auth.Token{}
			}
			return printJSON(stdout, tokens)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tCOUNTRIES\tPARTNER\tNAME\tCREATED\tEXPIRES\tREVOKED")
		for _, t := range tokens {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Role, tokenDash(strings.Join(t.Countries, ",")), tokenDash(t.Partner),
				tokenDash(t.Name), tokenTime(t.CreatedAt, "-"), tokenTime(t.ExpiresAt, "never"), tokenTime(t.RevokedAt, "-"))
		}
		return tw.Flush()
	})
}

func tokenDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func tokenRevoke() *cobra.Command {
	var c common
	var id string
	f := newFlags("token revoke", "token revoke --id ID", `
Revokes an API token. Running servers (same Redis) are told at once and
refuse it within a second.`)
	c.register(f, true)
	f.StringVar(&id, "id", "", "token id, as xpromo token list shows it (required)")
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if id == "" {
			fmt.Fprintln(stderr, "--id is required")
			f.Usage()
			return errUsage
		}
		store, cat, closeConn, err := openTokenStore(ctx, &c)
		if err != nil {
			return err
		}
		defer closeConn()
		t, err := store.Revoke(ctx, id, cliActor())
		if errors.Is(err, auth.ErrAlreadyRevoked) {
			fmt.Fprintf(stdout, "token %s was already revoked at %s by %s\n", t.ID, tokenTime(t.RevokedAt, "-"), tokenDash(t.RevokedBy))
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %s revoked\n", t.ID)
		before := t
		before.RevokedAt, before.RevokedBy = time.Time{}, ""
		if err := auditToken(ctx, cat, catalog.ActionRevoke, &before, t); err != nil {
			return fmt.Errorf("token %s was revoked but its audit entry was not written: %w", t.ID, err)
		}
		return nil
	})
}
