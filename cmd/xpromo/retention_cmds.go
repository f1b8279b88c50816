package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app"
	"github.com/xpromo/xpromo/app/admin"
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
	return c.run(f, func(ctx context.Context, e *admin.Env) error {
		period, err := privacy.ParsePeriod(keep)
		if err != nil {
			return err
		}
		return e.Retention(ctx, period, dryRun)
	})
}
