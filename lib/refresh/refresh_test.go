package refresh

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestLoopReloadsAndLogsTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		calls, fail := 0, false
		reload := func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if fail {
				return errors.New("down")
			}
			return nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		wake := make(chan struct{}, 1)
		done := make(chan struct{})
		go func() { Loop(ctx, time.Second, wake, log, "snap", reload); close(done) }()
		// expect wants n reloads so far, then makes the next ones fail or
		// work.
		expect := func(n int, after string, failNext bool) {
			t.Helper()
			mu.Lock()
			defer mu.Unlock()
			if calls != n {
				t.Fatalf("after %s: %d reloads", after, calls)
			}
			fail = failNext
		}

		time.Sleep(3*time.Second + time.Millisecond)
		synctest.Wait()
		expect(3, "3 intervals", true)
		wake <- struct{}{} // on demand, before the next tick
		synctest.Wait()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		expect(6, "a wake and 2 more intervals", false)
		time.Sleep(time.Second)
		synctest.Wait()
		cancel()
		<-done
		out := logs.String()
		if strings.Count(out, "reload failed") != 1 || strings.Count(out, "works again") != 1 {
			t.Fatalf("want one failure and one recovery line, got:\n%s", out)
		}
	})
}

func TestEveryTicksUntilDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		// Atomic: the race detector does not count synctest.Wait as
		// synchronisation with the goroutine that calls fn.
		var calls atomic.Int32
		done := make(chan struct{})
		go func() { Every(ctx, time.Second, func(context.Context) { calls.Add(1) }); close(done) }()
		synctest.Wait()
		if n := calls.Load(); n != 0 {
			t.Fatalf("%d calls before the first interval", n)
		}
		time.Sleep(3*time.Second + time.Millisecond)
		synctest.Wait()
		if n := calls.Load(); n != 3 {
			t.Fatalf("after 3 intervals: %d calls", n)
		}
		cancel()
		<-done
	})
}
