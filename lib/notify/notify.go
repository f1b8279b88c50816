// Package notify tells every running server that a snapshot they keep in
// memory (the catalog, the API tokens) changed, so they reload it at once
// instead of at their next periodic refresh.
//
// It uses Redis pub/sub, which is at-most-once: a message published while
// a subscriber is disconnected is lost for it, and Redis keeps no backlog.
// So a notification only shortens the wait; the periodic refresh (see
// lib/refresh) stays as the safety net, and Watch also wakes its
// caller each time the subscription is (re)established, since messages may
// have been missed while it was down.
//
// A message carries no data: it only means "reload". Watch calls wake once
// per message received, and receivers are expected to coalesce (a
// buffered(1) channel with a non-blocking send, as catalog.Cache.Trigger
// does), so several changes close together may cost a single reload that
// sees all of them.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	minBackoff = 50 * time.Millisecond
	// maxBackoff caps the wait between resubscribe attempts, so a
	// subscription comes back within about this long after Redis does.
	maxBackoff = time.Second
	// healthEvery: when nothing arrived for this long, Watch pings over
	// the subscription; no answer within another period means the
	// connection is dead (e.g. half-open after a network failure).
	healthEvery = 15 * time.Second
)

// Notifier publishes and watches one Redis pub/sub channel.
type Notifier struct {
	rdb     *redis.Client
	channel string
	log     *slog.Logger

	// Tunable by tests.
	minBackoff, maxBackoff, health time.Duration
}

// New returns a Notifier for channel, e.g. prefix+"catalog:changed".
// log may be nil.
func New(rdb *redis.Client, channel string, log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{rdb: rdb, channel: channel, log: log,
		minBackoff: minBackoff, maxBackoff: maxBackoff, health: healthEvery}
}

// Channel returns the channel name.
func (n *Notifier) Channel() string { return n.channel }

// Publish tells every watcher to reload. A failure only delays the
// watchers' reload until their next periodic refresh.
func (n *Notifier) Publish(ctx context.Context) error {
	if err := n.rdb.Publish(ctx, n.channel, "changed").Err(); err != nil {
		return fmt.Errorf("notify publish %s: %w", n.channel, err)
	}
	return nil
}

// Watch subscribes to the channel and calls wake for every message, and
// also each time the subscription is established or re-established (the
// first time included), until ctx ends. When Redis goes away it
// resubscribes with a capped backoff, logging only the transitions
// (lost, back). wake is called from Watch's goroutine and must not block.
func (n *Notifier) Watch(ctx context.Context, wake func()) {
	backoff := n.minBackoff
	lost := false
	for {
		up, err := n.session(ctx, wake, func() {
			if lost {
				n.log.Info("notify: subscription back", "channel", n.channel)
				lost = false
			}
		})
		if ctx.Err() != nil {
			return
		}
		if up {
			backoff = n.minBackoff
		}
		if !lost {
			n.log.Warn("notify: subscription lost; resubscribing, periodic refresh still applies", "channel", n.channel, "err", err)
			lost = true
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, n.maxBackoff)
	}
}

// session subscribes once and receives until the connection fails or ctx
// ends. up reports whether the subscription was established; onUp runs
// just before the wake that follows each confirmation.
func (n *Notifier) session(ctx context.Context, wake, onUp func()) (up bool, err error) {
	ps := n.rdb.Subscribe(ctx) // no channel yet: no I/O, so no error hidden here
	defer ps.Close()
	// Receive does not watch ctx; closing the subscription unblocks it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()

	if err := ps.Subscribe(ctx, n.channel); err != nil {
		return false, fmt.Errorf("notify subscribe %s: %w", n.channel, err)
	}
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, n.health)
		if err != nil {
			if ctx.Err() != nil {
				return up, ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				if err := ps.Ping(ctx); err != nil {
					return up, fmt.Errorf("notify ping %s: %w", n.channel, err)
				}
				pinged = true
				continue
			}
			return up, fmt.Errorf("notify receive %s: %w", n.channel, err)
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == n.channel {
				up = true
				onUp()
				wake()
			}
		case *redis.Message:
			wake()
		}
	}
}
