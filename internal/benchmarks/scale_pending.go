package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testnode"
)

// pendingBackoff is how long a pending task of the scale benchmark waits
// for its second attempt: far longer than the benchmark runs, so that
// every such task is held, waiting, while the members' memory is read.
const pendingBackoff = time.Hour

// pendingRequest is a task that fails its first attempt at once (the
// stock flaky kind with fail_rate 1) and then waits pendingBackoff for
// its second: a pending task, as issue #23 counts memory per task.
func pendingRequest(id string) api.SubmitRequest {
	attempts, mult, jitter := 2, 1.0, "none"
	backoff := api.Duration(pendingBackoff)
	return api.SubmitRequest{ID: id, Kind: "flaky", Payload: json.RawMessage(`{"fail_rate":1}`),
		Policy: &api.Policy{MaxAttempts: &attempts, BackoffInitial: &backoff, BackoffMax: &backoff, BackoffMultiplier: &mult, Jitter: &jitter}}
}

// loadPending submits n pending tasks from callers callers spread over
// clients, waits until the counts show them all waiting for their retry,
// and returns each member's resident memory growth (bytes) from before
// the submits to then.
func loadPending(ctx context.Context, nodes []*testnode.Node, clients []*client.Client, n, callers int) ([]int64, error) {
	before := make([]int64, len(nodes))
	for i, nd := range nodes {
		before[i] = rssOf(nd.PID())
	}
	run := time.Now().UnixNano()
	err := runAll(callers, 0, n, func(i int) error {
		req := pendingRequest(fmt.Sprintf("p-%d-%d", run, i))
		_, err := clients[i%len(clients)].Submit(ctx, req)
		for try := 1; err != nil && try < 5; try++ { // the same id again: one task
			_, err = clients[(i+try)%len(clients)].Submit(ctx, req)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("submitting pending tasks: %w", err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		st, err := clients[0].TaskStats(ctx)
		if err == nil && st.ByKind["flaky"][api.StateRetrying] >= n {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("pending tasks: %v waiting for a retry after 10 min, want %d (%v)", st, n, err)
		}
		time.Sleep(time.Second)
	}
	grew := make([]int64, len(nodes))
	for i, nd := range nodes {
		grew[i] = rssOf(nd.PID()) - before[i]
	}
	return grew, nil
}

// rssOf is a process's resident memory in bytes (0 if unreadable).
func rssOf(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0
	}
	return resident * int64(os.Getpagesize())
}
