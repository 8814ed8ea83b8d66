package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// consoleSection measures what the web console costs the node it is open
// on, under a busy workload.
func consoleSection() (string, error) {
	r, err := benchmark(benchmarks.ConsoleOverhead, "1x", "-bench ConsoleOverhead ./internal/benchmarks")
	if err != nil {
		return "", err
	}
	x := r.Extra
	with, without, over := x["with-console-%core"], x["without-console-%core"], x["overhead-%core"]
	fmt.Printf("console overhead             %.2f%% of a core (node at %.1f%% with, %.1f%% without)\n", over, with, without)
	var b strings.Builder
	fmt.Fprintf(&b, "## Web console overhead\n\n")
	fmt.Fprintf(&b, "| busy node's CPU, console closed | console open | overhead | target |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %.1f %% of a core | %.1f %% of a core | %+.2f %% of a core | ≤ %.0f %% %s |\n",
		without, with, over, benchmarks.ConsoleMaxOverhead, verdict(over <= benchmarks.ConsoleMaxOverhead))
	fmt.Fprintf(&b, `
How measured: two `+"`granary node`"+` processes on a real Consul dev agent; %d echo tasks a second submitted through node 1 (%.0f over the run) for the whole measurement; headless Chromium (Debian's chromium, through chromedp) either shows node 1's console, each of %s in turn for an equal share of the round (polling as it does for a person), or shows about:blank. %d rounds of %v each side, alternating ABBA; node 1's user+system CPU from /proc/PID/stat over each round, in percent of one core; the figures are the medians, the overhead their difference (noise on a shared machine can make it negative: the rounds with the console closed differed by up to %.2f %% of a core among themselves). The console keeps itself cheap: a page polls at most every 2 s and waits at least 100 times as long as its last answer took, stops while hidden, and the node counts tasks for /v1/tasks:stats at most every 2 s whatever the number of consoles (cluster/console's package doc).
`, benchmarks.ConsoleBusyRate, x["tasks"], strings.Join(benchmarks.ConsolePages, ", "), benchmarks.ConsoleRounds, benchmarks.ConsoleRound.Round(time.Second), x["without-console-range-%core"])
	return b.String(), nil
}
