package reports

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/schema"
)

// The rollup of hits_hourly as hits_hourly_mv computes it
// (schema/0021_hits_hourly_mv.sql), refilled from stored hits: for every
// hit, or for one month (YYYYMM, bound) after its partition was dropped.
var (
	refillRollup      = refillRollupWhere("")
	refillRollupMonth = refillRollupWhere(" AND toYYYYMM(ts) = ?")
)

const (
	truncateRollup  = `TRUNCATE TABLE hits_hourly`
	dropRollupMonth = `ALTER TABLE hits_hourly DROP PARTITION %d`
	countRollup     = `SELECT count(), countMerge(hits) FROM hits_hourly`
)

func refillRollupWhere(and string) string {
	return schema.HitsHourly.Insert() + `
SELECT partnership, direction, toStartOfHour(ts) AS hour, kind, is_bot, countState(), uniqState(visitor)
FROM hits WHERE partnership != ''` + and + `
GROUP BY partnership, direction, hour, kind, is_bot`
}

// RebuildRollup empties hits_hourly and fills it again from every stored
// hit (`xpromo rollup rebuild`), then counts its rows and the hits they
// hold. Hits inserted while it runs would be counted twice: ingesting
// stops first.
func RebuildRollup(ctx context.Context, conn driver.Conn) (rows, hits uint64, err error) {
	for _, q := range []string{truncateRollup, refillRollup} {
		if err := conn.Exec(ctx, q); err != nil {
			return 0, 0, fmt.Errorf("rebuild rollup: %w", err)
		}
	}
	if err := conn.QueryRow(ctx, countRollup).Scan(&rows, &hits); err != nil {
		return 0, 0, fmt.Errorf("rebuild rollup: %w", err)
	}
	return rows, hits, nil
}

// RebuildRollupMonths empties the given months (YYYYMM) of hits_hourly and
// fills them again from hits. A hit ingested into one of those months
// while this runs can be counted twice or missed (as with RebuildRollup);
// ts is when a hit was received, so only the current month still takes
// hits.
func RebuildRollupMonths(ctx context.Context, conn driver.Conn, months []uint32) error {
	for _, m := range months {
		if m < 197001 || m > 999912 {
			return fmt.Errorf("rebuild rollup: bad month %d", m)
		}
		if err := conn.Exec(ctx, fmt.Sprintf(dropRollupMonth, m)); err != nil {
			return fmt.Errorf("rebuild rollup %d: %w", m, err)
		}
		if err := conn.Exec(ctx, refillRollupMonth, m); err != nil {
			return fmt.Errorf("rebuild rollup %d: %w", m, err)
		}
	}
	return nil
}
