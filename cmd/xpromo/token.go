package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xpromo/xpromo/internal/auth"
	"github.com/xpromo/xpromo/internal/chdb"
)

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("token", args, stderr, map[string]string{
		"create": "create an API token: --role ROLE [--country CC[,CC]] [--partner ID] [--name N] [--expires YYYY-MM-DD]",
		"list":   "list API tokens (never their secrets)",
		"revoke": "revoke an API token: --id ID",
	})
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		return tokenCreate(ctx, args, stdout, stderr)
	case "revoke":
		return tokenRevoke(ctx, args, stdout, stderr)
	default:
		return tokenList(ctx, args, stdout, stderr)
	}
}

// tokenActor records who used the CLI, for created_by and revoked_by.
func tokenActor() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

func openTokenStore(ctx context.Context, c *common) (*auth.Store, func(), error) {
	conn, err := chdb.Open(ctx, c.ClickHouseURL, false)
	if err != nil {
		return nil, nil, err
	}
	return auth.NewStore(conn), func() { conn.Close() }, nil
}

func tokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
Requests carry it as "Authorization: Bearer TOKEN".`, stderr)
	c.register(f, false)
	f.StringVar(&role, "role", "", "admin, country_manager, partner, finance or service (required)")
	f.StringVar(&countries, "country", "", "country_manager only: comma-separated ISO 3166-1 alpha-2 codes")
	f.StringVar(&partner, "partner", "", "partner only: the partner id")
	f.StringVar(&name, "name", "", "what the token is for, shown in lists")
	f.StringVar(&expires, "expires", "", "UTC day, YYYY-MM-DD, at whose start (00:00 UTC) the token stops working; empty: never")
	if err := f.parse(args, false); err != nil {
		return err
	}
	spec := auth.Spec{Partner: partner, Name: name, CreatedBy: tokenActor()}
	var err error
	if spec.Role, err = auth.ParseRole(role); err != nil {
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
	store, closeConn, err := openTokenStore(ctx, &c)
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
	return nil
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

func tokenList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, format, err := listFlags("token list", "Lists API tokens: ids and what they may do, never secrets.", args, stderr)
	if err != nil {
		return err
	}
	store, closeConn, err := openTokenStore(ctx, &c)
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
}

func tokenDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func tokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	var id string
	f := newFlags("token revoke", "token revoke --id ID", `
Revokes an API token. Servers refuse it within about a second (their
token refresh interval).`, stderr)
	c.register(f, false)
	f.StringVar(&id, "id", "", "token id, as shown by `xpromo token list` (required)")
	if err := f.parse(args, false); err != nil {
		return err
	}
	if id == "" {
		fmt.Fprintln(stderr, "--id is required")
		f.Usage()
		return errUsage
	}
	store, closeConn, err := openTokenStore(ctx, &c)
	if err != nil {
		return err
	}
	defer closeConn()
	t, err := store.Revoke(ctx, id, tokenActor())
	if errors.Is(err, auth.ErrAlreadyRevoked) {
		fmt.Fprintf(stdout, "token %s was already revoked at %s by %s\n", t.ID, tokenTime(t.RevokedAt, "-"), tokenDash(t.RevokedBy))
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %s revoked\n", t.ID)
	return nil
}
