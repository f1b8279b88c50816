package admin

// Partners' postback secrets (docs/POSTBACKS.md), stored sealed with the
// server key: rotating one must use the same key as the servers.

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/postback"
	"github.com/xpromo/xpromo/lib/secrets"
)

// partner returns partner id from the catalog.
func (e *Env) partner(ctx context.Context, conn driver.Conn, id string) (catalog.Partner, error) {
	snap, err := e.snapshot(ctx)
	if err != nil {
		return catalog.Partner{}, err
	}
	p, ok := snap.Partners[id]
	if !ok {
		return p, notFound("partner", id)
	}
	return p, nil
}

// RotateSecret makes partner id a new postback secret, sealed with the
// key of keyFile (or secrets.EnvKey), and prints it once.
func (e *Env) RotateSecret(ctx context.Context, id, keyFile string) error {
	key, src, err := secrets.Load(keyFile)
	if err != nil {
		return err
	}
	return e.withConn(ctx, func(conn driver.Conn) error {
		p, err := e.partner(ctx, conn, id)
		if err != nil {
			return err
		}
		store := postback.NewStore(e.pg, key, nil).WithClock(e.Clock)
		if err := store.CheckKey(ctx); err != nil {
			return fmt.Errorf("%w; set %s to the servers' key", err, secrets.EnvKey)
		}
		if src == secrets.FromCreatedFile {
			fmt.Fprintf(e.Err, "note: created a new server key in %s (key id %s); the servers must use this key too (%s or the same file)\n", keyFile, key.ID(), secrets.EnvKey)
		}
		// The new version and its audit entry are written together or not
		// at all.
		secret, err := store.RotateAudited(ctx, id, e.Actor, e.catalog())
		if err != nil {
			return err
		}
		vs, err := store.List(ctx, id)
		if err != nil || len(vs) == 0 {
			return fmt.Errorf("secret of partner %s rotated, but it cannot be read back (%v): rotate again", id, err)
		}
		fmt.Fprintln(e.Out, secret)
		prev := "there was no previous secret"
		for _, v := range vs[1:] {
			if v.Active {
				prev = "the previous secret (version " + strconv.FormatUint(uint64(v.Version), 10) + ") stays valid until the next rotation; older ones are revoked"
				break
			}
		}
		fmt.Fprintf(e.Err, "secret version %d of partner %s created (sealed with the key from %s, id %s). It is shown only this once: give it to the partner now. Note: %s.\n",
			vs[0].Version, id, src, key.ID(), prev)
		if p.Status == catalog.StatusArchived {
			fmt.Fprintf(e.Err, "warning: partner %s is archived: its postbacks are refused until it is active again\n", id)
		}
		return nil
	})
}

// ListSecrets prints in format (Table or JSON) the versions of partner
// id's postback secret, never the secrets.
func (e *Env) ListSecrets(ctx context.Context, id, format string) error {
	return e.withConn(ctx, func(conn driver.Conn) error {
		if _, err := e.partner(ctx, conn, id); err != nil {
			return err
		}
		// Listing opens nothing: no server key is needed.
		vs, err := postback.NewStore(e.pg, nil, nil).WithClock(e.Clock).List(ctx, id)
		if err != nil {
			return err
		}
		if len(vs) == 0 && format != JSON {
			fmt.Fprintf(e.Out, "partner %s has no postback secret; make one with `xpromo partner secret rotate --id %s`\n", id, id)
			return nil
		}
		return printRows(e.Out, format, func(tw *tabwriter.Writer) (any, error) {
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
			if vs == nil {
				return []postback.Version{}, nil
			}
			return vs, nil
		})
	})
}
