#!/usr/bin/env bash
# `make faults`: the fault-injection suite in its full form (the issue's
# durations: Redis unreachable 60 s, ClickHouse stopped 10 min, ...), each
# fault on a fresh system under load at half the measured capacity. Prints
# the table and writes it into docs/RELIABILITY.md. Takes about 27 minutes.
# Needs root (the journal-disk-full fault mounts a small tmpfs).
#
# Environment:
#   FAULTS_FORM [full]   short is the form `make test` runs
#   FAULTS_RATE []       requests per second instead of half the measured capacity
#   FAULTS_ONLY []       run only the faults whose name contains this (the doc is then not written)
#   FAULTS_CH_DOWN []    length of the ClickHouse outage instead of the form's (e.g. 4m)
#   FAULTS_PPROF []      non-empty: tracker and ingester serve /debug/pprof (addresses in the log)
#   FAULTS_LOGS []       copy the tracker's and ingester's logs of each fault into this directory
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
export FAULTS_FORM=${FAULTS_FORM:-full}
export FAULTS_DOC=${FAULTS_DOC:-$ROOT/docs/RELIABILITY.md}
# No race detector: the load generator must keep its rate; the processes
# under test are plain builds in any case.
go test -count=1 -timeout 90m -run '^TestFaults$' -v ./testkit/faults/ 2>&1 | tee "${FAULTS_LOG:-/tmp/xpromo-faults.log}" |
	grep -E '^(=== RUN|--- |\s+--- |PASS|FAIL|ok|Form:|\||\s+faults_test.go)' || true
exit "${PIPESTATUS[0]}"
