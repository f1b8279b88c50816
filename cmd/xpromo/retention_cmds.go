package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/internal/chdb"
	"github.com/xpromo/xpromo/internal/privacy"
	"github.com/xpromo/xpromo/tracker/catalog"
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

func runRetention(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	var keep string
	var dryRun bool
	f := newFlags("retention", "retention [--retain-hits 13mo] [--dry-run] [flags]", `
Drops the months (partitions) of raw hits whose whole month is older than
--retain-hits, with ALTER TABLE ... DROP PARTITION. The hourly rollup
(hits_hourly), conversions and attributions are kept: reports over old
months still show clicks and users from the rollup, but breakdowns,
capture quality and visitor countries, which read raw hits, are empty
there. serve does the same every hour when given --retain-hits.`, stderr)
	c.register(f, false)
	f.String(&keep, "retain-hits", "off", retainHitsUsage)
	f.BoolVar(&dryRun, "dry-run", false, "only list the months that would be dropped")
	if err := f.parse(args, false); err != nil {
		return err
	}
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
	parts, err := applyRetention(ctx, conn, period, time.Now(), dryRun, cliActor())
	if err != nil {
		return err
	}
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
}

// applyRetention drops the expired months of raw hits (none with dryRun)
// and files the drop in the audit log. It returns what expired.
func applyRetention(ctx context.Context, conn driver.Conn, keep privacy.Period, now time.Time, dryRun bool, actor string) ([]privacy.Partition, error) {
	store := catalog.NewStore(conn)
	snap, err := store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	r := &privacy.Retention{Conn: conn, Keep: keep}
	parts, err := r.Expired(ctx, now, privacy.AttributionFloor(now, snap))
	if err != nil || dryRun || len(parts) == 0 {
		return parts, err
	}
	if err := r.Drop(ctx, parts); err != nil {
		return parts, err
	}
	after, _ := json.Marshal(map[string]any{"retain_hits": keep.String(), "partitions": parts})
	if err := store.Audit(ctx, catalog.AuditEntry{Actor: actor, Action: actionDrop, Entity: entityPartition,
		EntityID: "raw hits", After: string(after)}); err != nil {
		return parts, fmt.Errorf("retention: dropped, but the audit entry failed: %w", err)
	}
	return parts, nil
}

// retentionLoop applies keep at start and then every interval until ctx
// ends (serve's --retain-hits). Several trackers may run it: a month
// already dropped is simply no longer listed.
func retentionLoop(ctx context.Context, conn driver.Conn, keep privacy.Period, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		parts, err := applyRetention(rctx, conn, keep, time.Now(), false, "serve")
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("retention failed; the next run retries", "err", err)
		case len(parts) > 0:
			log.Info("retention: dropped old months of raw hits", "retain_hits", keep.String(), "partitions", len(parts))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
