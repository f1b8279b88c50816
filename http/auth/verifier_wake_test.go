package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/lib/notify"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// With a one-hour interval, a token created elsewhere works here within a
// second of a notification: notify.Watch calls Trigger, Run reloads.
func TestVerifierTriggerByNotification(t *testing.T) {
	db := testenv.ClickHouse(t)
	r := testenv.NewRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	store := NewStore(db.Conn)
	v := NewVerifier(store, time.Hour, testenv.Logger(t))
	if err := v.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() { v.Run(runCtx) })

	n := notify.New(r.Client, r.Prefix+"tokens:changed", testenv.Logger(t))
	base := v.Loads()
	wg.Go(func() { n.Watch(runCtx, v.Trigger) })
	testenv.WaitFor(t, time.Second, "a reload when the watcher subscribes", func() bool { return v.Loads() > base })

	tok, _, err := store.Create(ctx, Spec{Role: access.RoleAdmin, Name: "wake", CreatedBy: "test"})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := v.Verify(tok, time.Now()); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Verify before the notification = %v, want ErrUnknown", err)
	}
	before := v.Loads()
	if err := n.Publish(ctx); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	testenv.WaitFor(t, time.Second, "a reload after Publish", func() bool { return v.Loads() > before })
	if _, err := v.Verify(tok, time.Now()); err != nil {
		t.Fatalf("Verify after the notification: %v", err)
	}

	before = v.Loads()
	v.Trigger()
	testenv.WaitFor(t, time.Second, "a reload after Trigger", func() bool { return v.Loads() > before })
}
