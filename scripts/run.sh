#!/usr/bin/env bash
# `make run`: start the servers (unless already running), migrate, seed the
# demo, run `xpromo serve` in the foreground. Ctrl-C stops the tracker and
# the servers this script started (servers that were already running are
# left alone).
set -euo pipefail
cd "$(dirname "$0")/.."
addr="${1:-:8080}"
services=scripts/services.sh
started_services=0
if ! $services status >/dev/null 2>&1; then
	started_services=1
fi
$services up >/dev/null
cleanup() {
	if [ "$started_services" = 1 ]; then
		echo "stopping the servers make run started" >&2
		$services down || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bin/xpromo migrate
port="${addr##*:}"
bin/xpromo demo --public-url "http://localhost:$port"
scripts/run-banner.sh "$addr"
# Not exec: the trap above must run after serve exits.
bin/xpromo serve --http-addr "$addr" &
serve_pid=$!
trap 'kill -TERM $serve_pid 2>/dev/null || true' INT TERM
wait $serve_pid || true
wait $serve_pid 2>/dev/null || true
