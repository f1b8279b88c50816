package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/ops/privacy"
)

// Audit vocabulary of retention.
const (
	actionDrop      = "drop"
	entityPartition = "partition"
)

// RetainHitsUsage documents --retain-hits for retention and serve.
const RetainHitsUsage = "drop whole months of raw hits (hits, rejected_hits) older than this: 13mo, 2y, 400d, or off; " +
	"months the attribution of the open periods still reads are kept whatever this says"

// retentionEvery is how often serve applies --retain-hits.
const retentionEvery = time.Hour

// ApplyRetention drops the expired months of raw hits (none with dryRun)
// and files the drop in the audit log under actor. It returns what
// expired and the instant before which months expire.
func ApplyRetention(ctx context.Context, conn driver.Conn, keep privacy.Period, now time.Time, dryRun bool, actor string, clock func() time.Time) ([]privacy.Partition, time.Time, error) {
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
func applyRetentionPass(ctx context.Context, conn driver.Conn, keep privacy.Period, clock func() time.Time, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	parts, _, err := ApplyRetention(ctx, conn, keep, clock(), false, "serve", clock)
	if err != nil {
		return err
	}
	if len(parts) > 0 {
		log.Info("retention: dropped old months of raw hits", "retain_hits", keep.String(), "partitions", len(parts))
	}
	return nil
}
