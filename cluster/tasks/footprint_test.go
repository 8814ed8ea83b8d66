package tasks

import (
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
)

// maxRunningTaskBytes bounds Granary's share of a member's memory per
// running task: its heap (the task actor, its mailbox and registration,
// the attempt's context and timer, the supervision tree, the task's
// record) and goroutine stacks, less the handler's own stack: issue #23's
// target, 4 KB. Measured 3.6 KB here; 5.9 KB while each attempt was an
// actor of its own and each task actor had Props of its own (7.6 KB
// before a running task held only what its attempt needs).
const maxRunningTaskBytes = 4000

// TestRunningTaskFootprint fails if the memory a member spends on each
// running task grows past maxRunningTaskBytes: 1000 tasks whose handler
// waits for its context and allocates nothing, heap and stacks after GC
// before and after, per task.
func TestRunningTaskFootprint(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 1000 tasks and measures the heap; run without -short")
	}
	const n, warm = 1000, 64
	block, err := actors.NewTask("block", func(ctx actors.TaskContext, _ []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	m := startIdleManagerWith(t, nil, func(c *Config) { c.ParkIdle = false }, block)
	waitRunning := func(want int64) {
		t.Helper()
		testutil.Eventually(t, time.Minute, func() (bool, string) {
			// Running, and stored running: a task is first written once
			// its attempt has run for HoldFirstWrite.
			got, stored := m.running.Load(), countIn(t, m, messages.TaskState_TASK_STATE_RUNNING)
			return got == want && stored == int(want), fmt.Sprintf("%d attempts running, %d stored running, want %d", got, stored, want)
		})
	}
	// Warm up: the first tasks grow the member's maps and pools.
	submitMany(t, m, "warm", "block", warm)
	waitRunning(warm)
	before := testutil.MemInUse()
	submitMany(t, m, "f", "block", n)
	waitRunning(warm + n)
	after := testutil.MemInUse()
	perTask := (float64(after.Heap+after.Stacks) - float64(before.Heap+before.Stacks)) / n
	handlerStack := testutil.GoroutineStack(n) // the handler's own
	granary := perTask - handlerStack
	t.Logf("per running task: heap %.0f B, stacks %.0f B (a goroutine's own: %.0f B), Granary's share %.0f B (bound %d B)",
		(float64(after.Heap)-float64(before.Heap))/n, (float64(after.Stacks)-float64(before.Stacks))/n, handlerStack, granary, maxRunningTaskBytes)
	if granary > maxRunningTaskBytes {
		t.Errorf("Granary's share of a running task is %.0f B, more than %d B: something new is held per running task", granary, maxRunningTaskBytes)
	}
}
