package main

// xpromo erase and xpromo retention: what ops/privacy does to a person's
// events and to old raw hits.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app"
	"github.com/xpromo/xpromo/app/admin"
	"github.com/xpromo/xpromo/domain/attribution"
	"github.com/xpromo/xpromo/domain/vocab"
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
	return c.run(f, func(ctx context.Context, e *admin.Env) error {
		s.UserID, s.Visitor = strings.TrimSpace(s.UserID), strings.TrimSpace(s.Visitor)
		if (s.UserID == "") == (s.Visitor == "") {
			fmt.Fprintln(f.Output(), "name exactly one of --user and --visitor")
			f.Usage()
			return errUsage
		}
		log, err := c.Logger(e.Err)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return e.Erase(ctx, s, dryRun, c.RedisURL, c.KeyPrefix, reportingCur, log)
	})
}

func retentionCmd() *cobra.Command {
	var c common
	var keep string
	var dryRun bool
	f := newFlags("retention", "retention [--retain-hits 13mo] [--dry-run] [flags]", `
Drops the months (partitions) of raw hits whose whole month is older than
--retain-hits, with ALTER TABLE ... DROP PARTITION. The hourly rollup
(hits_hourly), conversions and attributions are kept: reports over old
months still show clicks and users from the rollup, but breakdowns,
capture quality and visitor countries, which read raw hits, are empty
there. serve does the same every hour when given --retain-hits.`)
	c.register(f, false)
	f.String(&keep, "retain-hits", "off", app.RetainHitsUsage)
	f.BoolVar(&dryRun, "dry-run", false, "only list the months that would be dropped")
	return c.run(f, func(ctx context.Context, e *admin.Env) error {
		period, err := privacy.ParsePeriod(keep)
		if err != nil {
			return err
		}
		return e.Retention(ctx, period, dryRun)
	})
}
