#!/usr/bin/env bash
# Runs every Go fuzz target for a while (default 30s each). `make test`
# already runs each target's seed corpus; this searches for new inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-30s}"
status=0
while IFS= read -r file; do
	pkg="./$(dirname "$file")"
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
		echo "== $pkg $target ($fuzztime)" >&2
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" || status=1
	done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' .)
exit $status
