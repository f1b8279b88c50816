package main

// xpromo audit: list the audit log's entries.

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app/admin"
	"github.com/xpromo/xpromo/domain/catalog"
)

func auditCmd() *cobra.Command {
	return group("audit SUBCOMMAND [flags]",
		sub{"list audit entries, newest first [--entity E] [--entity-id ID] [--actor A] [--tx N] [--from DATE] [--to DATE] [--limit N]", auditList()})
}

func auditList() *cobra.Command {
	var filt catalog.AuditFilter
	var from, to string
	l := listFlags("audit list", "[--entity E] [--entity-id ID] [--actor A] [--tx N] [--from DATE] [--to DATE] [--limit N]", `
Lists the audit log, newest first: every change to partners, partnerships
(and their terms), links, playbooks and API tokens, who made it and what
changed. --from and --to are UTC days (both included) or RFC 3339 times
(--to excluded). --tx lists the entries one transaction wrote (a
replication's: its TX column).`, func(f *flags) {
		f.StringVar(&filt.Entity, "entity", "", "only this kind of thing: partner, partnership, link, playbook or token")
		f.Int64Var(&filt.Tx, "tx", 0, "only the entries of this transaction")
		f.StringVar(&filt.EntityID, "entity-id", "", "only changes to this id (partner or partnership id, link code, token id)")
		f.StringVar(&filt.Actor, "actor", "", "only changes by this actor, e.g. cli:alice or token:abc...")
		f.StringVar(&from, "from", "", "first day (YYYY-MM-DD, UTC) or time (RFC 3339)")
		f.StringVar(&to, "to", "", "last day (YYYY-MM-DD, UTC, included) or time (RFC 3339, excluded)")
		f.IntVar(&filt.Limit, "limit", catalog.DefaultAuditLimit, fmt.Sprintf("at most this many entries (1-%d)", catalog.MaxAuditLimit))
	})
	return l.run(func(ctx context.Context, e *admin.Env, format string) error {
		if err := admin.AuditPeriod(&filt, from, to); err != nil {
			return err
		}
		return e.AuditLog(ctx, filt, format)
	})
}
