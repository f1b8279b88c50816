package main

// xpromo audit: list the audit log's entries.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/domain/catalog"
)

func auditCmd() *cobra.Command {
	return group("audit SUBCOMMAND [flags]",
		sub{"list audit entries, newest first [--entity E] [--entity-id ID] [--actor A] [--from DATE] [--to DATE] [--limit N]", auditList()})
}

// auditView is an audit entry as audit list --json prints it: before and
// after as JSON, not strings holding JSON.
type auditView struct {
	TS       time.Time       `json:"ts"`
	ID       string          `json:"id"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Entity   string          `json:"entity"`
	EntityID string          `json:"entity_id"`
	Country  string          `json:"country"`
	Before   json.RawMessage `json:"before,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
}

func auditList() *cobra.Command {
	var filt catalog.AuditFilter
	var from, to string
	f, l := listFlags("audit list", "[--entity E] [--entity-id ID] [--actor A] [--from DATE] [--to DATE] [--limit N]", `
Lists the audit log, newest first: every change to partners, partnerships
(and their terms), links and API tokens, who made it and what changed.
--from and --to are UTC days (both included) or RFC 3339 times (--to
excluded).`, func(f *flags) {
		f.StringVar(&filt.Entity, "entity", "", "only this kind of thing: partner, partnership, link or token")
		f.StringVar(&filt.EntityID, "entity-id", "", "only changes to this id (partner or partnership id, link code, token id)")
		f.StringVar(&filt.Actor, "actor", "", "only changes by this actor, e.g. cli:alice or token:abc...")
		f.StringVar(&from, "from", "", "first day (YYYY-MM-DD, UTC) or time (RFC 3339)")
		f.StringVar(&to, "to", "", "last day (YYYY-MM-DD, UTC, included) or time (RFC 3339, excluded)")
		f.IntVar(&filt.Limit, "limit", catalog.DefaultAuditLimit, fmt.Sprintf("at most this many entries (1-%d)", catalog.MaxAuditLimit))
	})
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		c, format, err := l.parsed()
		if err != nil {
			return err
		}
		if filt.Limit < 1 || filt.Limit > catalog.MaxAuditLimit {
			return badFlag("limit", "%d must be 1-%d", filt.Limit, catalog.MaxAuditLimit)
		}
		if from != "" {
			if filt.From, _, err = parseTime("from", from); err != nil {
				return err
			}
		}
		if to != "" {
			var day bool
			if filt.To, day, err = parseTime("to", to); err != nil {
				return err
			}
			if day {
				filt.To = filt.To.AddDate(0, 0, 1) // the whole day
			}
		}
		if !filt.From.IsZero() && !filt.To.IsZero() && !filt.From.Before(filt.To) {
			return badFlag("to", "%s is not after --from %s", to, from)
		}
		store, conn, err := openStore(ctx, &c)
		if err != nil {
			return err
		}
		defer conn.Close()
		entries, err := store.AuditLog(ctx, filt)
		if err != nil {
			return err
		}
		if format == "json" {
			out := make([]auditView, 0, len(entries))
			for _, e := range entries {
				v := auditView{TS: e.TS, ID: e.ID, Actor: e.Actor, Action: e.Action, Entity: e.Entity, EntityID: e.EntityID, Country: e.Country}
				if e.Before != "" {
					v.Before = json.RawMessage(e.Before)
				}
				if e.After != "" {
					v.After = json.RawMessage(e.After)
				}
				out = append(out, v)
			}
			return printJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tENTITY\tID\tCOUNTRY\tCHANGES")
		for _, e := range entries {
			change := "created"
			if e.Before != "" {
				change = dash(catalog.Changes(e.Before, e.After))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.TS.UTC().Format(time.RFC3339), e.Actor, e.Action, e.Entity, dash(e.EntityID), dash(e.Country), change)
		}
		return tw.Flush()
	})
}
