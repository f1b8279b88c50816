//go:build faults

package app

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
)

// faultKillAfterInserts reads XPROMO_FAULT_KILL_AFTER_INSERTS=N, a fault
// injection for the fault suite (testkit/faults builds with -tags faults;
// production binaries lack it): the process SIGKILLs itself after its Nth
// insert, before acknowledging it (the worst moment to die).
func faultKillAfterInserts(log *slog.Logger) (func(), error) {
	v := os.Getenv("XPROMO_FAULT_KILL_AFTER_INSERTS")
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("XPROMO_FAULT_KILL_AFTER_INSERTS=%q: want a positive number", v)
	}
	log.Warn("fault injection: this ingester kills itself after an insert", "inserts", n)
	var count atomic.Int64
	return func() {
		if count.Add(1) >= int64(n) {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never acknowledge
		}
	}, nil
}
