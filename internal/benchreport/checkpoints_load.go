package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// The checkpoint load run: checkpointLoadTasks running tasks each asking
// for a checkpoint every checkpointLoadPeriod (heavy but plausible: a
// handler saving its cursor every second), checkpointLoadRounds rounds of
// checkpointLoadWindow per side. Bounded so the run stays within about
// three minutes on the shared 2-core machine; 10,000 tasks did not.
const (
	checkpointLoadTasks  = 3000
	checkpointLoadPeriod = time.Second
	checkpointLoadRounds = 2
	checkpointLoadWindow = 4 * time.Second
)

// checkpointLoadSection measures echo-task durable throughput with many
// running tasks checkpointing and without them, in alternating rounds.
func checkpointLoadSection() (string, error) {
	r, err := benchmark(func(b *testing.B) {
		benchmarks.CheckpointLoad(b, checkpointLoadRounds, checkpointLoadTasks, checkpointLoadPeriod, checkpointLoadWindow)
	}, "1x", "-bench CheckpointLoad ./internal/benchmarks")
	if err != nil {
		return "", err
	}
	x := r.Extra
	ratio := x["echo-with/s"] / x["echo-without/s"]
	coalesced := x["ckpt-calls/s"] / x["ckpt-writes/s"]
	fmt.Printf("checkpoint load, %d tasks every %s   echo %.0f tasks/s with, %.0f without   ratio %.2f×   checkpoints %.0f asked/s, %.0f stored/s\n",
		checkpointLoadTasks, checkpointLoadPeriod, x["echo-with/s"], x["echo-without/s"], ratio, x["ckpt-calls/s"], x["ckpt-writes/s"])
	var b strings.Builder
	fmt.Fprintf(&b, "| %d running tasks checkpointing every %s | per second | |\n|---|---|---|\n", checkpointLoadTasks, checkpointLoadPeriod)
	fmt.Fprintf(&b, "| echo tasks committed, %d callers, checkpointers held | %.0f | |\n", benchmarks.Callers, x["echo-without/s"])
	fmt.Fprintf(&b, "| echo tasks committed, %d callers, checkpointers running | %.0f | %.2f× |\n", benchmarks.Callers, x["echo-with/s"], ratio)
	fmt.Fprintf(&b, "| checkpoints answered as stored (asked: %d/s) | %.0f | |\n", int(float64(checkpointLoadTasks)/checkpointLoadPeriod.Seconds()), x["ckpt-calls/s"])
	fmt.Fprintf(&b, "| checkpoint writes landed | %.0f | %.2f answers per write |\n", x["ckpt-writes/s"], coalesced)
	fmt.Fprintf(&b, `
How measured: the store and the task manager as above; %d tasks of a kind that asks for a checkpoint every %s from a goroutine of its own (it does not wait for the last one: at most %d unanswered per task, the runtime keeps one write in flight and lets the others share the next), started and warmed up first (%.0f s to start them all). %d callers (as in the durable benchmark, here through the manager's Submit and Wait in the same process) submit echo tasks and wait for each committed result. %d rounds of %s per side, the checkpointers held (gate closed, every checkpoint answered) or running (a period of lead first), the sides taking turns; medians over rounds. Echo tasks that failed (the store's time-out under load): %.0f.
`, checkpointLoadTasks, checkpointLoadPeriod, 4, x["start-s"], benchmarks.Callers, checkpointLoadRounds, checkpointLoadWindow, x["echo-failed"])
	return b.String(), nil
}
