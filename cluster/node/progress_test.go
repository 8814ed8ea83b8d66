package node_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestProgressReachesWaitersOnOtherMembers: a running attempt's progress
// lives in the memory of the member running it; a waiter and a reader on
// another member see it move while the task runs, not only its start and
// end (the stored status holds no progress).
func TestProgressReachesWaitersOnOtherMembers(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := testcluster.Start(t, agent.HTTPAddr(), stockKinds(t), 2, nil)
	ctx := testutil.Context(t, 2*time.Minute)

	// A 4s sleep, waited on through the member that does not run it.
	st, err := nodes[0].Client().Submit(ctx, api.SubmitRequest{ID: "progress-1", Kind: "sleep", Payload: json.RawMessage(`{"ms":4000}`)})
	if err != nil {
		t.Fatal(err)
	}
	id, owner, other := st.ID, 0, 1
	if nodes[1].ID() == st.Owner {
		owner, other = 1, 0
	}
	t.Logf("%s runs on %s, waited on through %s", id, nodes[owner].ID(), nodes[other].ID())

	var mu sync.Mutex
	seen := map[string]bool{}
	st, err = nodes[other].Client().Wait(ctx, id, func(s *api.Status) {
		if s.State == api.StateRunning && s.ProgressNote != "" {
			mu.Lock()
			seen[s.ProgressNote] = true
			mu.Unlock()
		}
	})
	if err != nil || st.State != api.StateCompleted {
		t.Fatalf("wait: %+v, %v", st, err)
	}
	// 4s at a report every 100ms, asked for every 500ms: about 8 notes;
	// 3 shows that progress moved, not merely that a first figure came.
	if len(seen) < 3 {
		t.Fatalf("the waiter on the other member saw %d progress notes (%v) in a 4s task; want it to move", len(seen), seen)
	}

	// A plain read through the other member shows live progress too.
	st2, err := nodes[0].Client().Submit(ctx, api.SubmitRequest{ID: id + "-read", Kind: "sleep", Payload: json.RawMessage(`{"ms":3000}`)})
	if err != nil {
		t.Fatal(err)
	}
	reader := nodes[0].Client()
	for _, n := range nodes {
		if n.ID() != st2.Owner {
			reader = n.Client()
		}
	}
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		s, err := reader.Get(ctx, st2.ID)
		return err == nil && s.State == api.StateRunning && s.Progress > 0, fmt.Sprintf("%+v %v", s, err)
	})
}
