//go:build linux

package faulttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	consul "github.com/hashicorp/consul/api"
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
// members started again on new agents under their old ids. Every stored
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
	deregisterGoneNodes(t, fresh.Servers[0].Client())
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

// deregisterGoneNodes is the operator's step after a restore into a fresh
// quorum (docs/operators.md): the catalog restored from the snapshot lists
// the old agents' nodes with their checks still passing, and a member
// refuses its node id while its old registration looks alive, until
// Consul's leader reaps those nodes (up to about a minute, CI: a member
// refused n1 as taken). Every catalog node that is not a member of the
// fresh cluster's gossip pool is deregistered.
func deregisterGoneNodes(t *testing.T, cl *consul.Client) {
	t.Helper()
	members, err := cl.Agent().Members(false)
	if err != nil {
		t.Fatalf("consul members: %v", err)
	}
	live := map[string]bool{}
	for _, m := range members {
		live[m.Name] = true
	}
	nodes, _, err := cl.Catalog().Nodes(nil)
	if err != nil {
		t.Fatalf("consul catalog nodes: %v", err)
	}
	for _, n := range nodes {
		if live[n.Node] {
			continue
		}
		if _, err := cl.Catalog().Deregister(&consul.CatalogDeregistration{Node: n.Node}, nil); err != nil {
			t.Fatalf("deregistering the restored node %s: %v", n.Node, err)
		}
		t.Logf("deregistered %s, an agent of the old cluster restored in the catalog", n.Node)
	}
}
