// Package refresh runs the background reload loop shared by the in-memory
// snapshots (catalog, tokens): reload on a ticker or on demand, keep the
// last good snapshot when a reload fails, and log only the transitions.
package refresh

import (
	"context"
	"log/slog"
	"time"
)

// Loop calls reload every interval, and at once whenever wake receives
// (wake may be nil), until ctx ends. what names the snapshot in logs.
func Loop(ctx context.Context, interval time.Duration, wake <-chan struct{}, log *slog.Logger, what string, reload func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		if err := reload(ctx); err != nil {
			if !failing && ctx.Err() == nil {
				log.Warn(what+": reload failed, serving the last snapshot", "err", err)
			}
			failing = true
			continue
		}
		if failing {
			log.Info(what + ": reload works again")
		}
		failing = false
	}
}
