package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app"
	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/ops/privacy"
)

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
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		period, err := privacy.ParsePeriod(keep)
		if err != nil {
			return err
		}
		if period.Off() {
			fmt.Fprintln(stdout, "retention is off (--retain-hits): nothing dropped")
			return nil
		}
		conn, err := chdb.Open(ctx, c.ClickHouseURL, false)
		if err != nil {
			return err
		}
		defer conn.Close()
		now := clock()
		parts, limit, err := app.ApplyRetention(ctx, conn, period, now, dryRun, cliActor(), clock)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "raw hits of months ended before %s go (--retain-hits %s", limit.Format(time.DateOnly), period)
		if cut := period.Cutoff(now); limit.Before(cut) {
			fmt.Fprintf(stdout, " would allow %s, but the attribution of the open months reads clicks back to %s", cut.Format(time.DateOnly), limit.Format(time.DateOnly))
		}
		fmt.Fprintln(stdout, ")")
		verb := "dropped"
		if dryRun {
			verb = "would drop"
		}
		if len(parts) == 0 {
			fmt.Fprintf(stdout, "no month of raw hits is older than %s\n", period)
		}
		for _, p := range parts {
			fmt.Fprintf(stdout, "%s %s %d (%d rows)\n", verb, p.Table, p.Month, p.Rows)
		}
		return nil
	})
}
