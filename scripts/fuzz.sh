#!/usr/bin/env bash
# Runs every Go fuzz target for a while (default 30s each): scripts/fuzz.sh
# [FUZZTIME] [REGEXP], REGEXP choosing targets by name (default all).
# `make test` already runs each target's seed corpus; this searches for new
# inputs. A failing input is written under the package's testdata/fuzz/
# (commit it: it becomes a seed). docs/SECURITY.md lists the targets.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-30s}"
only="${2:-.}"
failed=()
ran=0
while IFS= read -r file; do
	pkg="./$(dirname "$file")"
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
		[[ "$target" =~ $only ]] || continue
		echo "== $pkg $target ($fuzztime)" >&2
		ran=$((ran + 1))
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" || failed+=("$pkg $target")
	done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' . | sort)
echo "fuzz: $ran targets, ${#failed[@]} failed" >&2
for f in "${failed[@]+"${failed[@]}"}"; do
	echo "  FAILED $f" >&2
done
[ ${#failed[@]} -eq 0 ]
