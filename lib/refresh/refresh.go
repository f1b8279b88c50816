// Package refresh runs background loops: Loop, shared by the in-memory
// snapshots (catalog, tokens), reloads on a ticker or on demand, keeps the
// last good snapshot when a reload fails and logs only the transitions;
// Every is the plain ticker loop of the other background jobs.
package refresh

import (
	"context"
	"log/slog"
	"time"
)

// Every calls fn every interval, the first time one interval after it is
// called, until ctx ends.
func Every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn(ctx)
	}
}

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
