package app

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestJobOwnerKilledMidRestart is issue 20's "durable decisions": three
// nodes; a one_for_all job of three tasks on any of them; the failure of
// one restarts the job, whose supervisor runs on the failed task's member.
// While it waits for a hung sibling to exit (its 5 s shutdown time), that
// member is killed with SIGKILL. A survivor takes the job over and finishes
// what its record says is in progress: every child is started again
// (none left stopped), and the job goes on to its end (the flaky child
// fails again, the budget of one restart is spent, the job gives up and
// every child ends).
func TestJobOwnerKilledMidRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := startCluster(t, 3, agent.HTTPAddr(), nil)
	ctx := testutil.Context(t, 3*time.Minute)
	c := nodes[0].Client()
	sub := func(id, kind, payload string, stage int, policy *api.Policy) {
		t.Helper()
		_, err := c.Submit(ctx, api.SubmitRequest{ID: id, Kind: kind, Payload: json.RawMessage(payload), Policy: policy,
			JobID: "k9", JobStrategy: "one_for_all", JobStage: stage, JobMaxRestarts: 1})
		if err != nil {
			t.Fatal(err)
		}
	}
	running := func(id string) *api.Status {
		t.Helper()
		var st *api.Status
		testutil.Eventually(t, 30*time.Second, func() (bool, string) {
			var err error
			st, err = c.Get(ctx, id)
			return err == nil && st.State == api.StateRunning, fmt.Sprintf("%s: %+v, %v", id, st, err)
		})
		return st
	}
	// h hangs on its first attempt, ignoring its context: its job waits
	// its whole shutdown time for it, then abandons it.
	sub("k9-h", "hang", `{"succeed_on_attempt":2}`, 0, &api.Policy{AttemptTimeout: api.Ptr(api.Duration(10 * time.Minute))})
	sub("k9-s", "sleep", `{"ms":600000}`, 2, nil)
	running("k9-h")
	running("k9-s")
	sub("k9-f", "flaky", `{"fail_rate":1}`, 1, &api.Policy{MaxAttempts: api.Ptr(1)})

	// The restart has begun once s (last in start order) was terminated;
	// the job now waits for h.
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		st, err := c.Get(ctx, "k9-s")
		return err == nil && len(st.Errors) > 0, fmt.Sprintf("k9-s: %+v, %v", st, err)
	})
	f, err := c.Get(ctx, "k9-f")
	if err != nil {
		t.Fatal(err)
	}
	var victim *testnode.Node
	var survivor *testnode.Node
	for _, n := range nodes {
		if n.ID == f.Owner {
			victim = n
		} else if survivor == nil {
			survivor = n
		}
	}
	if victim == nil {
		t.Fatalf("k9-f is owned by %q, not a node of the cluster", f.Owner)
	}
	victim.Kill()
	t.Logf("killed %s, the job's owner, mid restart", victim.ID)

	sc := survivor.Client()
	var job *api.JobStatus
	testutil.Eventually(t, 2*time.Minute, func() (bool, string) {
		job, err = sc.Job(ctx, "k9")
		return err == nil && job.State != api.StateRunning, fmt.Sprintf("job: %+v, %v", job, err)
	})
	if job.State != api.StateFailed || job.Restarts != 1 {
		t.Fatalf("job %s after %d restarts (%s); want failed after one restart", job.State, job.Restarts, job.Error)
	}
	want := map[string]string{"k9-h": api.StateCompleted, "k9-s": api.StateCancelled, "k9-f": api.StateFailed}
	for id, state := range want {
		st, err := sc.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		// Every child was started again by the restart the new owner
		// finished: none was left stopped.
		if st.State != state || st.Attempts != 2 || st.JobRestarts != 1 {
			t.Errorf("%s: %s after %d attempts, %d job restarts (errors %+v); want %s after 2 attempts and one restart",
				id, st.State, st.Attempts, st.JobRestarts, st.Errors, state)
		}
	}
}
