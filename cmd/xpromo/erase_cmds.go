package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/domain/attribution"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/ops/privacy"
)

func eraseCmd() *cobra.Command {
	var c common
	var s privacy.Subject
	var dryRun bool
	var timeout time.Duration
	var reportingCur string
	f := newFlags("erase", "erase (--user ID [--source SOURCE] | --visitor ID) [--dry-run] [flags]", `
Erases a person's events (GDPR right to erasure) from every table holding
them, then rebuilds the months of the hourly rollup that counted them, so
reports agree with what is left, and deletes the Redis keys naming the
person's signups and orders.

--visitor ID: every hit of that visitor id (the xp_vid cookie) and every
conversion reported from that browser. --user ID: the user's conversions
from --source (our product's user ids by default), the browsers those
conversions came from or whose clicks they name, every hit of those
browsers and their conversions that name no user, and rejected hits whose
query names the user. Attributions of every erased conversion go too;
other users' conversions on those browsers are kept without the browser's
id, and any credited to one of the person's clicks is attributed again.
See docs/PRIVACY.md. The audit log records the erasure with a hash of the
id, not the id itself.`)
	c.register(f, true)
	f.StringVar(&s.UserID, "user", "", "our product's user id to erase")
	f.StringVar(&s.Source, "source", vocab.SourceOurs, "whose user ids --user names: ours, or partner:ID for a partner's postbacks")
	f.StringVar(&s.Visitor, "visitor", "", "visitor id (xp_vid cookie) to erase")
	f.BoolVar(&dryRun, "dry-run", false, "only show what would be erased")
	f.String(&reportingCur, "reporting-currency", attribution.DefaultReportingCurrency, "currency revenue is also stated in, for conversions attributed again (as serve's)")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long (mutations on large tables take a while)")
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		s.UserID, s.Visitor = strings.TrimSpace(s.UserID), strings.TrimSpace(s.Visitor)
		if (s.UserID == "") == (s.Visitor == "") {
			fmt.Fprintln(f.Output(), "name exactly one of --user and --visitor")
			f.Usage()
			return errUsage
		}
		log, err := c.logger(stderr)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		conn, err := chdb.Open(ctx, c.ClickHouseURL, false)
		if err != nil {
			return err
		}
		defer conn.Close()
		ropts, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			return fmt.Errorf("redis-url: %w", err)
		}
		rdb := redis.NewClient(ropts)
		defer rdb.Close()
		job := attribution.NewJob(conn, catalog.NewStore(conn).WithClock(clock), fx.NewStore(conn).WithClock(clock), log).WithClock(clock)
		job.ReportingCurrency = strings.ToUpper(reportingCur)
		er := &privacy.Eraser{Conn: conn, Redis: rdb, KeyPrefix: c.KeyPrefix, Log: log,
			Reattribute: func(ctx context.Context, from, to time.Time) error { _, err := job.Run(ctx, from, to); return err }}
		plan, err := er.Plan(ctx, s)
		if err != nil {
			return err
		}
		if dryRun {
			fmt.Fprintf(stdout, "would erase %s: %s\n", subjectName(plan.Subject), plan.Summary())
			return nil
		}
		if plan.Empty() {
			fmt.Fprintf(stdout, "nothing to erase for %s\n", subjectName(plan.Subject))
			return nil
		}
		res, err := er.Erase(ctx, plan)
		if err != nil {
			return err
		}
		if err := catalog.NewStore(conn).WithClock(clock).Audit(ctx, res.AuditEntry(cliActor(), plan.Subject)); err != nil {
			return fmt.Errorf("erased, but the audit entry failed: %w", err)
		}
		fmt.Fprintf(stdout, "erased %s in %s: %s; rollup months rebuilt %v; %d redis key(s) deleted\n",
			subjectName(plan.Subject), res.Took.Round(time.Millisecond), rowsLine(res.Rows), res.Months, res.RedisKeys)
		return nil
	})
}

func subjectName(s privacy.Subject) string {
	if s.UserID != "" {
		return "user " + s.UserID + " (" + s.Source + ")"
	}
	return "visitor " + s.Visitor
}

func rowsLine(rows map[string]uint64) string {
	parts := make([]string, 0, len(rows))
	for _, t := range privacy.Keys() {
		parts = append(parts, fmt.Sprintf("%s %d", t, rows[t]))
	}
	return strings.Join(parts, ", ")
}
