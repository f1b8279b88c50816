#!/usr/bin/env bash
# `make soak`: SOAK (default 30m) at half the measured capacity. Checks that
# the memory of the tracker, the ingester and Redis is flat after warm-up,
# goroutines do not grow, the stream backlog stays bounded, everything
# drains, and the reports count exactly what was answered. Writes its table
# into docs/RELIABILITY.md.
#
# Environment: SOAK [30m] (e.g. SOAK=2m), FAULTS_RATE [] (req/s instead of half capacity)
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
export SOAK=${SOAK:-30m}
export FAULTS_DOC=${FAULTS_DOC:-$ROOT/docs/RELIABILITY.md}
go test -count=1 -timeout 3h -run '^TestSoak$' -v ./testkit/faults/ 2>&1 | tee "${SOAK_LOG:-/tmp/xpromo-soak.log}" |
	grep -vE 'level=(INFO|WARN|DEBUG)' || true
exit "${PIPESTATUS[0]}"
