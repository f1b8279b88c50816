package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/ops/privacy"
)

// Audit vocabulary of retention.
const (
	actionDrop      = "drop"
	entityPartition = "partition"
)

// retainHitsUsage documents --retain-hits for retention and serve.
const retainHitsUsage = "drop whole months of raw hits (hits, rejected_hits) older than this: 13mo, 2y, 400d, or off; " +
	"months the attribution of the open periods still reads are kept whatever this says"

// retentionEvery is how often serve applies --retain-hits.
const retentionEvery = time.Hour

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
	f.String(&keep, "retain-hits", "off", retainHitsUsage)
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
		parts, limit, err := applyRetention(ctx, conn, period, now, dryRun, cliActor())
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

// applyRetention drops the expired months of raw hits (none with dryRun)
// and files the drop in the audit log. It returns what expired and the
// instant before which months expire.
func applyRetention(ctx context.Context, conn driver.Conn, keep privacy.Period, now time.Time, dryRun bool, actor string) ([]privacy.Partition, time.Time, error) {
	store := catalog.NewStore(conn).WithClock(clock)
	snap, err := store.Load(ctx)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("retention: %w", err)
	}
	r := &privacy.Retention{Conn: conn, Keep: keep}
	floor := privacy.AttributionFloor(now, snap)
	limit := r.Limit(now, floor)
	parts, err := r.Expired(ctx, now, floor)
	if err != nil || dryRun || len(parts) == 0 {
		return parts, limit, err
	}
	if err := r.Drop(ctx, parts); err != nil {
		return parts, limit, err
	}
	after, _ := json.Marshal(map[string]any{"retain_hits": keep.String(), "partitions": parts})
	if err := store.Audit(ctx, catalog.AuditEntry{Actor: actor, Action: actionDrop, Entity: entityPartition,
		EntityID: "raw hits", After: string(after)}); err != nil {
		return parts, limit, fmt.Errorf("retention: dropped, but the audit entry failed: %w", err)
	}
	return parts, limit, nil
}

// applyRetentionPass applies keep once (serve's --retain-hits, a task run
// at start and then every retentionEvery). Several trackers may run it: a
// month already dropped is simply no longer listed.
func applyRetentionPass(ctx context.Context, conn driver.Conn, keep privacy.Period, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	parts, _, err := applyRetention(ctx, conn, keep, clock(), false, "serve")
	if err != nil {
		return err
	}
	if len(parts) > 0 {
		log.Info("retention: dropped old months of raw hits", "retain_hits", keep.String(), "partitions", len(parts))
	}
	return nil
}
