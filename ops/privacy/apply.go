package privacy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/domain/catalog"
)

// Audit vocabulary of retention.
const (
	ActionDrop      = "drop"
	EntityPartition = "partition"
)

// ApplyRetention drops the months of raw hits older than keep at now
// (none with dryRun), sparing those the attribution of the open periods
// still reads, and files the drop in the audit log under actor: xpromo
// retention, and serve's --retain-hits every hour. It returns what
// expired and the instant before which months expire. conn holds the
// hits, store the catalog and its audit log.
func ApplyRetention(ctx context.Context, conn driver.Conn, store *catalog.Store, keep Period, now time.Time, dryRun bool, actor string) ([]Partition, time.Time, error) {
	snap, err := store.Load(ctx)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("retention: %w", err)
	}
	r := &Retention{Conn: conn, Keep: keep}
	floor := AttributionFloor(now, snap)
	limit := r.Limit(now, floor)
	parts, err := r.Expired(ctx, now, floor)
	if err != nil || dryRun || len(parts) == 0 {
		return parts, limit, err
	}
	if err := r.Drop(ctx, parts); err != nil {
		return parts, limit, err
	}
	after, _ := json.Marshal(map[string]any{"retain_hits": keep.String(), "partitions": parts})
	if err := store.Audit(ctx, catalog.AuditEntry{Actor: actor, Action: ActionDrop, Entity: EntityPartition,
		EntityID: "raw hits", After: string(after)}); err != nil {
		return parts, limit, fmt.Errorf("retention: dropped, but the audit entry failed: %w", err)
	}
	return parts, limit, nil
}
