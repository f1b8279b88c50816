package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/ops/privacy"
)

// RetainHitsUsage documents --retain-hits for retention and serve.
const RetainHitsUsage = "drop whole months of raw hits (hits, rejected_hits) older than this: 13mo, 2y, 400d, or off; " +
	"months the attribution of the open periods still reads are kept whatever this says"

// retentionEvery is how often serve applies --retain-hits.
const retentionEvery = time.Hour

// applyRetentionPass applies keep once (serve's --retain-hits, a task run
// at start and then every retentionEvery). Several trackers may run it: a
// month already dropped is simply no longer listed.
func applyRetentionPass(ctx context.Context, conn driver.Conn, store *catalog.Store, keep privacy.Period, clock func() time.Time, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	parts, _, err := privacy.ApplyRetention(ctx, conn, store, keep, clock(), false, "serve")
	if err != nil {
		return err
	}
	if len(parts) > 0 {
		log.Info("retention: dropped old months of raw hits", "retain_hits", keep.String(), "partitions", len(parts))
	}
	return nil
}
