package admin

// API tokens: every change is filed in the audit log and announced.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/auth"
)

// withTokens runs fn with the token store and the catalog store whose
// audit log files token changes; running trackers are told to reload
// afterwards, whatever fn changed.
func (e *Env) withTokens(ctx context.Context, fn func(*auth.Store, *catalog.Store) error) error {
	return e.withConn(ctx, func(driver.Conn) error {
		if e.TokensChanged != nil {
			defer e.TokensChanged(context.Background())
		}
		return fn(auth.NewStore(e.pg).WithClock(e.Clock), catalog.NewStore(e.pg).WithClock(e.Clock))
	})
}

// TokenRequest is a token to create as token create's flags give it.
type TokenRequest struct {
	Role      string // access.Role
	Countries string // comma-separated, country_manager only
	Partner   string // partner only
	Name      string
	Expires   string // UTC day, YYYY-MM-DD; "": never
}

// CreateToken creates the token r describes and prints it once.
func (e *Env) CreateToken(ctx context.Context, r TokenRequest) error {
	spec := auth.Spec{Partner: r.Partner, Name: r.Name, CreatedBy: e.Actor}
	var err error
	if spec.Role, err = access.ParseRole(r.Role); err != nil {
		return err
	}
	if r.Countries != "" {
		spec.Countries = strings.Split(r.Countries, ",")
	}
	if r.Expires != "" {
		if spec.ExpiresAt, err = time.Parse(time.DateOnly, r.Expires); err != nil {
			return fmt.Errorf("--expires %q: want YYYY-MM-DD", r.Expires)
		}
	}
	return e.withTokens(ctx, func(store *auth.Store, cat *catalog.Store) error {
		// The token and its audit entry are written together or not at all.
		tok, t, err := store.CreateAudited(ctx, spec, cat)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.Out, tok)
		fmt.Fprintf(e.Err, "token %s created (%s). It is shown only this once: store it now, it cannot be shown again.\n", t.ID, describeToken(t))
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

func tokenTime(t time.Time, zero string) string { return formatTime(t, "2006-01-02 15:04", zero) }

// ListTokens prints the tokens in format (Table or JSON), never their
// secrets.
func (e *Env) ListTokens(ctx context.Context, format string) error {
	return e.withTokens(ctx, func(store *auth.Store, _ *catalog.Store) error {
		tokens, err := store.List(ctx)
		if err != nil {
			return err
		}
		return printRows(e.Out, format, func(tw *tabwriter.Writer) (any, error) {
			fmt.Fprintln(tw, "ID\tROLE\tCOUNTRIES\tPARTNER\tNAME\tCREATED\tEXPIRES\tREVOKED")
			for _, t := range tokens {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Role, dash(strings.Join(t.Countries, ",")), dash(t.Partner),
					dash(t.Name), tokenTime(t.CreatedAt, "-"), tokenTime(t.ExpiresAt, "never"), tokenTime(t.RevokedAt, "-"))
			}
			if tokens == nil {
				return []auth.Token{}, nil
			}
			return tokens, nil
		})
	})
}

// RevokeToken revokes token id.
func (e *Env) RevokeToken(ctx context.Context, id string) error {
	return e.withTokens(ctx, func(store *auth.Store, cat *catalog.Store) error {
		t, err := store.RevokeAudited(ctx, id, e.Actor, cat)
		if errors.Is(err, auth.ErrAlreadyRevoked) {
			fmt.Fprintf(e.Out, "token %s was already revoked at %s by %s\n", t.ID, tokenTime(t.RevokedAt, "-"), dash(t.RevokedBy))
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Out, "token %s revoked\n", t.ID)
		return nil
	})
}
