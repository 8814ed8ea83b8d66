package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/benchmarks"
)

// fanOutSection times a fan-out of 1,000 child tasks from one handler
// against the same tasks submitted by a client, on one member and on
// three (issue #21).
func fanOutSection(cfg config) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "## Fan-out of %d child tasks from one handler\n\n", benchmarks.FanOutChildren)
	fmt.Fprintf(&b, "| members | from a handler p50 | max | from a client p50 | max | ratio (p50, handler ÷ client) |\n|---|---|---|---|---|---|\n")
	for _, m := range []struct {
		n    int
		name string
	}{{1, "1 (`granary dev`)"}, {3, "3 (`granary node`, one Consul agent)"}} {
		r, err := benchmark(func(b *testing.B) { benchmarks.FanOut(b, m.n, cfg.fanOutRounds) }, "1x", "-bench FanOut ./internal/benchmarks")
		if err != nil {
			return "", err
		}
		x := r.Extra
		ratio := x["handler-p50-s"] / x["client-p50-s"]
		fmt.Printf("fan-out of %d children, %d member(s): from a handler p50 %.2f s max %.2f s   from a client p50 %.2f s max %.2f s   ratio %.2f\n",
			benchmarks.FanOutChildren, m.n, x["handler-p50-s"], x["handler-max-s"], x["client-p50-s"], x["client-max-s"], ratio)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.2f |\n", m.name, fmtSecs(x["handler-p50-s"]), fmtSecs(x["handler-max-s"]),
			fmtSecs(x["client-p50-s"]), fmtSecs(x["client-max-s"]), ratio)
	}
	fmt.Fprintf(&b, `
How measured, %d rounds per row (p50 is the median round, max the slowest). **from a handler**: one `+"`wordcount-mapreduce`"+` task (examples/wordcount) submitted through the HTTP API and awaited; its handler spawns %d `+"`wordcount-shard`"+` children one after the other (each a submit on its member, idempotent by its derived id, into the parent's child job), awaits them one after the other, and sums their counts; the figure runs from the submit until the parent's result is in. **from a client**: the same %d shards submitted as tasks of their own through the HTTP API in batches of %d, then awaited one after the other by the client; from the first submit until the last result is in. Each shard counts %d words, so the figures are the cost of a task, not of its work.
`, cfg.fanOutRounds, benchmarks.FanOutChildren, benchmarks.FanOutChildren, api.MaxBatch, benchmarks.FanOutWords)
	return b.String(), nil
}
