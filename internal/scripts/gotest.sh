#!/usr/bin/env bash
# Runs `go test` with the arguments given, printing its output as it comes,
# and keeps a copy in $GOTEST_LOG. When a test fails, it ends with a digest:
# each failing test's own lines (its "--- FAIL" block, up to 60 lines), so
# that the end of a long CI log says what failed and why, even when the
# failure scrolled past among thousands of lines of passing packages.
# The exit code is go test's.
set -uo pipefail
log=${GOTEST_LOG:-$(mktemp -t gotest.XXXXXX.log)}
"${GO:-go}" test "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [[ $rc -ne 0 ]]; then
	echo
	echo "=== digest of failures (full log: $log) ==="
	awk '
		/^(=== RUN|--- PASS|--- SKIP|PASS$|ok  |FAIL\t|\?   )/ { if (n > 0 && !/^--- FAIL/) { n = 0 } }
		/^--- FAIL/ { n = 60; print ""; }
		n > 0 && !/^\s+\{"time"/ && !/^\s+20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T/ { print; n-- }
		/^(panic:|fatal error:)/ { p = 40 }
		p > 0 { print; p-- }
	' "$log"
	grep -E '^(FAIL|---)' "$log" | grep -v '^--- PASS' | head -40
fi
exit "$rc"
