package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// checkpointSection measures the checkpoints one member sustains against
// raw Consul KV puts of the task record's size, in the same run.
func checkpointSection(cfg config) (string, error) {
	r, err := benchmark(func(b *testing.B) {
		benchmarks.Checkpoints(b, cfg.checkpointRounds, cfg.checkpointTasks, cfg.checkpointWindow)
	}, "1x", "-bench Checkpoints ./internal/benchmarks")
	if err != nil {
		return "", err
	}
	x := r.Extra
	ratio := x["checkpoints/s"] / x["raw-puts/s"]
	fmt.Printf("checkpoints, %d tasks   granary %.0f checkpoints/s   raw Consul KV %.0f puts/s   ratio %.2f×\n",
		cfg.checkpointTasks, x["checkpoints/s"], x["raw-puts/s"], ratio)
	var b strings.Builder
	fmt.Fprintf(&b, "## Checkpoints\n\n")
	fmt.Fprintf(&b, "| %d tasks checkpointing on one member | per second | ratio |\n|---|---|---|\n", cfg.checkpointTasks)
	fmt.Fprintf(&b, "| granary: `ctx.Checkpoint`, each answered once stored | %.0f | %.2f× |\n", x["checkpoints/s"], ratio)
	fmt.Fprintf(&b, "| raw Consul KV put of a %.0f-byte value, as many writers | %.0f | |\n", x["record-bytes"], x["raw-puts/s"])
	fmt.Fprintf(&b, `
How measured: one disk-backed Consul server (bin/consul -server) and one task manager in the benchmark's process on the Consul task store; %d tasks each save a checkpoint (a step and a cursor) in a loop, the next as soon as the last is stored. A checkpoint is a check-and-set of the task's whole record (%.0f bytes here) under the claim's epoch, as a commit is; concurrent writes of many tasks share Consul transactions. The raw baseline puts values of the record's size from as many writers to as many keys of the same server. %d rounds of %s per side, the sides taking turns; each figure is the median over rounds.
`, cfg.checkpointTasks, x["record-bytes"], cfg.checkpointRounds, cfg.checkpointWindow)
	load, err := checkpointLoadSection()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "\n%s", load)
	return b.String(), nil
}
