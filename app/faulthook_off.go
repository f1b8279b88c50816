//go:build !faults

package app

import "log/slog"

// faultKillAfterInserts installs no fault hook: the ingester's kill-after-
// insert injection exists only in binaries built with -tags faults (see
// faulthook_faults.go), so production binaries carry no test-only code.
func faultKillAfterInserts(*slog.Logger) (func(), error) { return nil, nil }
