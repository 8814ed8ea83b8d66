//go:build linux

package faulttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestConsulSnapshotRestoreIntoFreshQuorum is issue #22's cluster backup:
// `consul snapshot save` of a running cluster (completed tasks, running
// tasks, a job, a grain's state, a reminder), then the whole cluster lost
// (members killed, servers and agents stopped), a fresh quorum of three
// servers restored from the snapshot (`consul snapshot restore`), and the
// members started again on new agents under their old ids, with nothing
// deregistered by hand: the restored catalog still lists the old agents'
// nodes with the members' leases passing, and each member recognises its
// own as a gone agent's (cluster/membership, TestRestoredRegistrationOfGoneAgent).
// Every stored
// task, the job, the grain's state and the reminder are there; the tasks
// that were running run again and complete, each finished once and
// started at most once more than before the snapshot.
func TestConsulSnapshotRestoreIntoFreshQuorum(t *testing.T) {
	const cluster = "restored"
	old := startQuorumCluster(t, cluster, 2)
	ctx := testutil.Context(t, 4*time.Minute)
	c := old.nodes[0].Client()
	done := testcluster.Completed(t, ctx, c, "done", 20)
	if _, err := c.DeclareJob(ctx, "j1", api.JobSpec{Strategy: "one_for_one"}); err != nil {
		t.Fatal(err)
	}
	var running []string
	for i := range 6 {
		req := api.SubmitRequest{ID: fmt.Sprintf("long-%d", i), Kind: "sleep", Payload: json.RawMessage(`{"ms":6000}`)}
		if i < 2 {
			req.JobID = "j1"
		}
		if _, err := c.Submit(ctx, req); err != nil {
			t.Fatal(err)
		}
		running = append(running, req.ID)
	}
	if _, err := c.CallRaw(ctx, "counter", "c1", []byte(`{"op":"add","n":7}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallRaw(ctx, "alarm", "a1", []byte(`{"op":"set","name":"wake","after_ms":15000}`)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		for _, id := range running {
			if st, err := c.Get(ctx, id); err != nil || st.State != api.StateRunning {
				return false, fmt.Sprintf("%s: %+v %v", id, st, err)
			}
		}
		return true, ""
	})

	snap := saveSnapshot(t, old.q)
	for _, n := range old.nodes {
		n.Kill()
	}
	for _, a := range append(old.agents, old.q.Servers...) {
		a.Stop()
	}
	t.Logf("saved a snapshot of %d bytes; the old cluster is gone", len(snap))

	fresh := testconsul.StartQuorum(t, testconsul.QuorumOptions{})
	began := time.Now()
	if err := fresh.Servers[0].Client().Snapshot().Restore(nil, bytes.NewReader(snap)); err != nil {
		t.Fatalf("consul snapshot restore: %v", err)
	}
	var nodes []*testnode.Node
	for _, n := range old.nodes {
		nodes = append(nodes, testnode.ClusterNode(t, cluster, fresh.AddClient(t).HTTPAddr(), n.ID))
	}
	waitMembers(t, nodes, len(nodes))
	t.Logf("restored; both members serve %v after the restore began", time.Since(began).Round(time.Millisecond))

	c = nodes[1].Client()
	for _, id := range done {
		if st, err := c.Get(ctx, id); err != nil || st.State != api.StateCompleted {
			t.Fatalf("restored %s: %+v %v; want completed", id, st, err)
		}
	}
	if _, err := c.Job(ctx, "j1"); err != nil {
		t.Fatalf("the job after the restore: %v", err)
	}
	for _, id := range running {
		st, err := c.Wait(ctx, id, nil)
		if err != nil || st.State != api.StateCompleted || st.Attempts > 2 {
			t.Fatalf("%s, running at the snapshot: %+v %v; want completed within one attempt more", id, st, err)
		}
	}
	gs, err := c.GrainState(ctx, "counter", "c1")
	if err != nil || !strings.Contains(string(gs.State), `"value":7`) {
		t.Fatalf("counter c1 after the restore: %+v %v; want the snapshot's value 7", gs, err)
	}
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		gs, err := c.GrainState(ctx, "alarm", "a1")
		return err == nil && strings.Contains(string(gs.State), `"wake"`), fmt.Sprintf("alarm a1 has not fired: %+v %v", gs, err)
	})
	checkCommittedOnce(t, append(old.nodes, nodes...))
}

// saveSnapshot is `consul snapshot save` through the quorum's leader.
func saveSnapshot(t *testing.T, q *testconsul.Quorum) []byte {
	t.Helper()
	leader := q.WaitLeader(t, 30*time.Second)
	rc, _, err := leader.Client().Snapshot().Save(nil)
	if err != nil {
		t.Fatalf("consul snapshot save: %v", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("consul snapshot save: %v", err)
	}
	return data
}
