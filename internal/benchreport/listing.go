package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// The listing comparison's size: a store of listTasks tasks, listRounds
// rounds of listReps operations per side (under a minute in all).
const (
	listTasks  = 20000
	listRounds = 5
	listReps   = 10
)

// listingSection compares a page of the newest tasks (GET /v1/tasks) from
// the Consul task store with a raw Consul KV read of every task, which is
// what such a page cost before the submission-time index.
func listingSection() (string, error) {
	r, err := benchmark(func(b *testing.B) { benchmarks.ListNewest(b, listTasks, listRounds, listReps) }, "1x",
		"-bench ListNewest ./internal/benchmarks")
	if err != nil {
		return "", err
	}
	x := r.Extra
	ms := func(k string) string { return fmt.Sprintf("%.1f ms", x[k]/1000) }
	kb := func(k string) string { return fmt.Sprintf("%.0f KB", x[k]/1000) }
	ratio := func(k string) float64 { return x["raw-µs"] / x[k] }
	fmt.Printf("task listing, %d tasks in Consul: page of %d newest %s, far back %s, of one kind %s; raw KV read of every task %s; raw ÷ newest %.1f×\n",
		listTasks, benchmarks.ListPage-1, ms("newest-µs"), ms("deep-µs"), ms("kind-µs"), ms("raw-µs"), ratio("newest-µs"))

	var b strings.Builder
	fmt.Fprintf(&b, "## Listing tasks (GET /v1/tasks)\n\n")
	fmt.Fprintf(&b, "| %d tasks in the Consul store | p50 | allocated per call | raw read ÷ this |\n|---|---|---|---|\n", listTasks)
	fmt.Fprintf(&b, "| page of the %d newest | %s | %s | %.1f× faster |\n", benchmarks.ListPage-1, ms("newest-µs"), kb("newest-alloc-B"), ratio("newest-µs"))
	fmt.Fprintf(&b, "| page of %d after a cursor half-way back | %s | %s | %.1f× faster |\n", benchmarks.ListPage-1, ms("deep-µs"), kb("deep-alloc-B"), ratio("deep-µs"))
	fmt.Fprintf(&b, "| page of %d newest of one kind (1 task in 5) | %s | %s | %.1f× faster |\n", benchmarks.ListPage-1, ms("kind-µs"), kb("kind-alloc-B"), ratio("kind-µs"))
	fmt.Fprintf(&b, "| raw Consul KV read of every task (`?recurse`, not decoded): what a page cost before the index | %s | %s | |\n", ms("raw-µs"), kb("raw-alloc-B"))
	fmt.Fprintf(&b, `
How measured: one disk-backed Consul server (bin/consul -server) and the Consul task store in the benchmark's process, holding %d completed tasks submitted a second apart (5.5 hours), each with a 256-byte payload and result. A page is what `+"`GET /v1/tasks`"+` asks the store for: %d tasks (one more than it shows, to know whether a next page exists), newest first. The store walks its submission-time index (hours, then minutes or seconds, then the page's tasks read by id in read-only transactions); before the index it read every task and kept a page, which costs at least the raw read in the last row (the store also decoded every record). %d rounds of %d calls per side, the sides taking turns in a rotating order; p50 is the median over rounds of each round's median, as is allocation (this process, per call).
`, listTasks, benchmarks.ListPage, listRounds, listReps)
	return b.String(), nil
}
