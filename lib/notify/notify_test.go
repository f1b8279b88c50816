package notify

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/testkit/testenv"
)

// watch runs n.Watch in the background with a counting wake and stops it
// (checking that it returns) when the test ends.
func watch(t *testing.T, n *Notifier) *atomic.Int64 {
	t.Helper()
	var wakes atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Watch(ctx, func() { wakes.Add(1) }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Errorf("Watch did not return within 1 s of its context ending")
		}
	})
	return &wakes
}

func waitWakes(t *testing.T, wakes *atomic.Int64, want int64, d time.Duration, what string) {
	t.Helper()
	testenv.WaitFor(t, d, what, func() bool { return wakes.Load() >= want })
}

func TestPublishWakesWatchers(t *testing.T) {
	r := testenv.NewRedis(t)
	ch := r.Prefix + "catalog:changed"
	// Two watchers stand for two trackers; each gets its own connection.
	w1 := watch(t, New(r.Client, ch, testenv.Logger(t)))
	w2 := watch(t, New(r.Client, ch, testenv.Logger(t)))
	// Each wakes once when its subscription is established.
	waitWakes(t, w1, 1, time.Second, "first watcher subscribed")
	waitWakes(t, w2, 1, time.Second, "second watcher subscribed")

	pub := New(r.Client, ch, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Each publish gives each watcher at least one more wake. (Watch calls
	// wake once per message; receivers may coalesce them.)
	for i := int64(2); i <= 3; i++ {
		start := time.Now()
		if err := pub.Publish(ctx); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		waitWakes(t, w1, i, 500*time.Millisecond, "first watcher woken by Publish")
		waitWakes(t, w2, i, 500*time.Millisecond, "second watcher woken by Publish")
		t.Logf("publish %d reached both watchers in %v", i-1, time.Since(start))
	}

	// Another channel does not wake them.
	if err := New(r.Client, r.Prefix+"tokens:changed", nil).Publish(ctx); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if got1, got2 := w1.Load(), w2.Load(); got1 != 3 || got2 != 3 {
		t.Fatalf("after a publish on another channel: wakes %d, %d, want 3, 3", got1, got2)
	}
}

func TestPublishError(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialerRetries: 1, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := New(c, "x:changed", nil).Publish(ctx)
	if err == nil || !strings.Contains(err.Error(), "notify publish x:changed") {
		t.Fatalf("Publish to nowhere = %v, want a wrapped error naming the op", err)
	}
}

func TestWatchResubscribesAndWakes(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := srv.Client()
	defer c.Close()
	var logs testenv.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	n := New(c, "t:changed", log)
	wakes := watch(t, n)
	waitWakes(t, wakes, 1, time.Second, "wake on the first subscription")

	srv.Kill()
	testenv.WaitFor(t, time.Second, "a 'lost' line after Redis went away", func() bool {
		return strings.Contains(logs.String(), "subscription lost")
	})
	srv.Start()
	// The wake on resubscribe covers messages missed while Redis was down.
	waitWakes(t, wakes, 2, 1500*time.Millisecond, "wake on resubscribe")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := n.Publish(ctx); err != nil {
		t.Fatalf("Publish after restart: %v", err)
	}
	waitWakes(t, wakes, 3, 500*time.Millisecond, "wake by Publish after restart")

	out := logs.String()
	if strings.Count(out, "subscription lost") != 1 || strings.Count(out, "subscription back") != 1 {
		t.Fatalf("want one 'lost' and one 'back' line, got:\n%s", out)
	}
}

func TestWatchReturnsWhenContextEnds(t *testing.T) {
	r := testenv.NewRedis(t)
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer down.Close()
	tests := []struct {
		name string
		rdb  *redis.Client
		wait time.Duration // before cancelling
	}{
		{"subscribed", r.Client, 200 * time.Millisecond},
		{"Redis unreachable", down, 200 * time.Millisecond},
		{"cancelled before start", r.Client, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			if tt.wait == 0 {
				cancel()
			}
			done := make(chan struct{})
			go func() { defer close(done); New(tt.rdb, r.Prefix+"c:changed", testenv.Logger(t)).Watch(ctx, func() {}) }()
			time.Sleep(tt.wait)
			cancel()
			select {
			case <-done:
			case <-time.After(time.Second):
				t.Fatalf("Watch still running 1 s after its context ended")
			}
		})
	}
}

// An idle subscription is kept alive by the health ping: Watch pings when
// nothing arrived for a period, and a Pong is not a loss nor a wake.
func TestWatchHealthPing(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := srv.Client()
	defer c.Close()
	var logs testenv.LogBuffer
	n := New(c, "t:changed", slog.New(slog.NewTextHandler(&logs, nil)))
	n.health = 100 * time.Millisecond
	wakes := watch(t, n)
	waitWakes(t, wakes, 1, time.Second, "wake on the first subscription")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	before := pings(t, ctx, c)
	// Idle for several health periods: pings are answered, no loss.
	time.Sleep(450 * time.Millisecond)
	if got := pings(t, ctx, c) - before; got < 2 {
		t.Fatalf("%d pings in 4 idle health periods, want >= 2", got)
	}
	if strings.Contains(logs.String(), "lost") || wakes.Load() != 1 {
		t.Fatalf("an idle healthy subscription was dropped (wakes %d); logs:\n%s", wakes.Load(), logs.String())
	}
}

// pings is how many PING commands the server has run.
func pings(t *testing.T, ctx context.Context, c *redis.Client) int {
	t.Helper()
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO: %v", err)
	}
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(line, "cmdstat_ping:calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}
