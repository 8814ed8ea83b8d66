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
	with, without, over, iqr := x["with-console-%core"], x["without-console-%core"], x["overhead-%core"], x["overhead-iqr-%core"]
	fmt.Printf("console overhead             %+.2f%% of a core (IQR %.2f; node at %.1f%% with, %.1f%% without); a page load %.0f ms of CPU\n", over, iqr, with, without, x["page-load-cpu-ms"])
	var b strings.Builder
	fmt.Fprintf(&b, "## Web console overhead\n\n")
	fmt.Fprintf(&b, "| busy node's CPU, console closed | console open | overhead (median of pairs) | its interquartile range | target | a page load |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %.1f %% of a core | %.1f %% of a core | %+.2f %% of a core | %.2f %% of a core | ≤ %.0f %% %s | %.0f ms of CPU |\n",
		without, with, over, iqr, benchmarks.ConsoleMaxOverhead, verdict(over <= benchmarks.ConsoleMaxOverhead), x["page-load-cpu-ms"])
	fmt.Fprintf(&b, `
How measured: two `+"`granary node`"+` processes on a real Consul dev agent; %d echo tasks a second submitted through node 1 (%.0f over the run) all along; headless Chromium (Debian's chromium, through chromedp) keeps either one page of node 1's console open (%s in turn, one per pair of rounds) or about:blank. %d pairs of %v rounds, the order within a pair alternating; a round with the console open starts %v after its page was loaded (that window is the page load's, in the last column: its CPU above the closed round's rate), a closed round 1 s after the page was left. Node 1's user+system CPU from /proc/PID/stat over each round, in percent of one core. The overhead is the median of the pairs' differences (noise on a shared machine can make it negative; the interquartile range says how noisy the run was); the other two columns are the medians of each side. An open page keeps itself cheap: each poller waits at least 2 s, and all of a page's polls pass one gate that waits 200 times as long as the last poll's answers took (a task listing reads every stored task: tens of thousands here, more every round), so the node serves a page at most about 0.5%% of the time; nothing is polled while the tab is hidden; the node counts tasks for /v1/tasks:stats at most every 2 s whatever the number of consoles (cluster/console's package doc). A page's first fetches go at once: that is the page load.
`, benchmarks.ConsoleBusyRate, x["tasks"], strings.Join(benchmarks.ConsolePages, ", "), benchmarks.ConsolePairs, benchmarks.ConsoleRound.Round(time.Second), benchmarks.ConsoleSettle)
	return b.String(), nil
}
