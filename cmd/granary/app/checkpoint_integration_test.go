package app

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/examples/kinds"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestCheckpointSurvivesKill is issue 21's checkpoint test: a 100-step
// task that checkpoints every step runs on one of two granary processes;
// about a third of the way through, its owner is killed with SIGKILL. The
// survivor takes the task over and resumes it from its last checkpoint:
// every step ran, and at most one step (the one in progress at the kill,
// done but not yet checkpointed) ran twice.
func TestCheckpointSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := startCluster(t, 2, agent.HTTPAddr(), nil)
	ctx := testutil.Context(t, 3*time.Minute)
	c := nodes[0].Client()
	const steps = 100
	if _, err := c.Submit(ctx, api.SubmitRequest{ID: "resume-1", Kind: "steps",
		Payload: json.RawMessage(fmt.Sprintf(`{"steps":%d,"step_ms":100,"log":true}`, steps))}); err != nil {
		t.Fatal(err)
	}
	var st *api.Status
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		var err error
		st, err = c.Get(ctx, "resume-1")
		return err == nil && st.CheckpointAt != nil && st.Progress >= 0.3, fmt.Sprintf("%+v, %v", st, err)
	})
	var victim, survivor *testnode.Node
	for _, n := range nodes {
		if n.ID == st.Owner {
			victim = n
		} else {
			survivor = n
		}
	}
	if victim == nil || survivor == nil {
		t.Fatalf("resume-1 is owned by %q, not one of two nodes", st.Owner)
	}
	victim.Kill()
	t.Logf("killed %s, the owner, at progress %.2f (checkpoint of %d bytes by attempt %d)", victim.ID, st.Progress, st.CheckpointBytes, st.CheckpointAttempt)

	sc := survivor.Client()
	testutil.Eventually(t, 2*time.Minute, func() (bool, string) {
		var err error
		st, err = sc.Get(ctx, "resume-1")
		return err == nil && st.Terminal(), fmt.Sprintf("%+v, %v", st, err)
	})
	var out kinds.StepsOut
	if err := json.Unmarshal(st.Result, &out); st.State != api.StateCompleted || err != nil {
		t.Fatalf("task %s (%s), result %s: %v", st.State, st.Error, st.Result, err)
	}
	if out.ResumedFrom < 30 || out.Attempt < 2 {
		t.Fatalf("the last attempt (%d) started at step %d; want a resume past step 30", out.Attempt, out.ResumedFrom)
	}
	ran := map[int]int{}
	for _, n := range []*testnode.Node{victim, survivor} {
		for _, e := range n.LogEntries(0, "step done") {
			if e["task"] == "resume-1" {
				ran[int(e["step"].(float64))]++
			}
		}
	}
	twice := 0
	for step := range steps {
		switch ran[step] {
		case 0:
			t.Errorf("step %d never ran", step)
		case 1:
		default:
			twice++
			t.Logf("step %d ran %d times", step, ran[step])
		}
	}
	if twice > 1 {
		t.Fatalf("%d steps ran more than once; at most the one in progress at the kill may", twice)
	}
	if st.CheckpointAttempt != out.Attempt || st.CheckpointBytes != len(fmt.Sprint(steps)) {
		t.Fatalf("status shows checkpoint of %d bytes by attempt %d; want %d bytes by %d", st.CheckpointBytes, st.CheckpointAttempt, len(fmt.Sprint(steps)), out.Attempt)
	}
}
