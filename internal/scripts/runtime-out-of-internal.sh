#!/usr/bin/env bash
# Moves the runtime packages that lived in internal/ to where runtime code
# lives, and rewrites every import of them, so that internal/ holds only
# test rigs, benchmarks and tools and no non-test package outside it imports
# it (internal/layouttest checks that). Idempotent: run it again after a
# rebase brings new imports of the old paths.
#
#   internal/kvtxn     -> cluster/internal/kvtxn  (Consul transactions: the stores)
#   internal/logevery  -> cluster/internal/logevery (rate-limited log lines)
#   internal/buildinfo -> cluster/buildinfo       (the version a node reports and
#                                                  the CLI prints: public, as a
#                                                  team's binary prints it too)
set -euo pipefail
cd "$(dirname "$0")/../.."
mod=github.com/granary-rt/granary
moves=(
	"internal/kvtxn cluster/internal/kvtxn"
	"internal/logevery cluster/internal/logevery"
	"internal/buildinfo cluster/buildinfo"
)
for m in "${moves[@]}"; do
	read -r from to <<<"$m"
	if [ -d "$from" ]; then
		mkdir -p "$(dirname "$to")"
		git mv "$from" "$to"
	fi
	files=$(git grep -l "\"$mod/$from\"" -- '*.go' || true)
	if [ -n "$files" ]; then
		# shellcheck disable=SC2086
		sed -i "s#\"$mod/$from\"#\"$mod/$to\"#" $files
	fi
done
gofmt -l . | xargs -r gofmt -w
