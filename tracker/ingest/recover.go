package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// recover claims entries that another consumer read but never acknowledged
// for ClaimIdle (it died, or lost Redis) and writes them, skipping rows
// that are already stored.
func (in *Ingester) recover(ctx context.Context) error {
	for _, s := range in.streams {
		start := "0-0"
		for {
			msgs, next, err := in.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
				Stream: s, Group: in.cfg.Group, Consumer: in.cfg.Consumer,
				MinIdle: in.cfg.ClaimIdle, Start: start, Count: int64(in.cfg.ReadCount),
			}).Result()
			if err != nil {
				return fmt.Errorf("xautoclaim %s: %w", s, err)
			}
			if len(msgs) > 0 {
				batch := make([]entry, 0, len(msgs))
				for _, msg := range msgs {
					batch = append(batch, toEntry(s, msg))
				}
				in.log.Info("ingest: claimed pending entries", "stream", s, "entries", len(batch))
				if err := in.flush(ctx, batch, true); err != nil {
					return err
				}
			}
			if next == "0-0" || next == "" {
				break
			}
			start = next
		}
		in.forgetConsumers(ctx, s)
	}
	return nil
}

// consumerTTL: consumers idle this long with nothing pending are removed
// from the group (each ingester start joins under a new name).
const consumerTTL = time.Hour

func (in *Ingester) forgetConsumers(ctx context.Context, stream string) {
	consumers, err := in.rdb.XInfoConsumers(ctx, stream, in.cfg.Group).Result()
	if err != nil {
		return
	}
	for _, c := range consumers {
		if c.Name != in.cfg.Consumer && c.Pending == 0 && c.Idle > consumerTTL {
			if err := in.rdb.XGroupDelConsumer(ctx, stream, in.cfg.Group, c.Name).Err(); err == nil {
				in.log.Debug("ingest: removed idle consumer", "stream", stream, "consumer", c.Name)
			}
		}
	}
}
