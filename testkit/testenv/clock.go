package testenv

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// NowEnv moves the tests' clock: with XPROMO_TEST_NOW=2027-03-15T10:00:00Z
// every test that takes its time from Clock or Now runs as if that were
// the moment the test binary started. CI runs the suite once more this
// way, so a test that passes only in the month it was written fails at
// once. Only the test helpers read it; the binary never does.
const NowEnv = "XPROMO_TEST_NOW"

var (
	clockOnce sync.Once
	clockFn   func() time.Time
)

// Clock is the clock tests inject into the code under test: the wall
// clock, or with XPROMO_TEST_NOW set a clock that starts there and runs at
// the wall clock's pace (so timeouts, ids and ordering behave as usual).
func Clock() func() time.Time {
	clockOnce.Do(func() {
		v := os.Getenv(NowEnv)
		if v == "" {
			clockFn = time.Now
			return
		}
		base, err := time.Parse(time.RFC3339, v)
		if err != nil {
			panic(fmt.Sprintf("testenv: %s=%q: want RFC 3339, e.g. 2027-03-15T10:00:00Z", NowEnv, v))
		}
		start := time.Now()
		clockFn = func() time.Time { return base.Add(time.Since(start)) }
	})
	return clockFn
}

// Now is the tests' current time (see Clock).
func Now() time.Time { return Clock()() }
