//go:build linux

package faulttest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// checkCommittedOnce is the chaos campaign's check 5 on these members
// (internal/chaos imports this package, so it cannot be called): no task
// is finished twice (one "task finished" log entry per task).
func checkCommittedOnce(t *testing.T, nodes []*testnode.Node) {
	t.Helper()
	commits := map[string][]string{}
	for _, n := range nodes {
		for _, e := range n.LogEntries(0, "task finished") {
			id, _ := e["task"].(string)
			commits[id] = append(commits[id], fmt.Sprintf("%s (epoch %v)", n.ID, e["epoch"]))
		}
	}
	if len(commits) == 0 {
		t.Fatal("no member logged a \"task finished\" entry: did the message or the log level change?")
	}
	for id, by := range commits {
		if len(by) > 1 {
			t.Errorf("task %s finished %d times, by %v", id, len(by), by)
		}
	}
}

// TestConsulLeaderKillUnderLoad: kill -9 of the Consul leader while
// submits go on. Submits answer 201 or 503 with Retry-After within the
// client's deadline while the servers elect a new leader; every
// acknowledged task completes, and none is finished twice.
func TestConsulLeaderKillUnderLoad(t *testing.T) {
	c := startQuorumCluster(t, "leaderkill", 3)
	stop := make(chan struct{})
	load := startSubmitLoad(c.nodes, 6, `{"ms":300}`, stop)
	t.Cleanup(func() { closeOnce(stop) })

	time.Sleep(2 * time.Second)
	leader := c.q.WaitLeader(t, 5*time.Second)
	leader.Kill()
	killedAt := time.Since(load.began)
	next := c.q.WaitLeader(t, 30*time.Second)
	t.Logf("killed leader %s at %v; %s leads %v later", leader.ServerAddr(), killedAt, next.ServerAddr(), time.Since(load.began)-killedAt)
	time.Sleep(6 * time.Second)
	closeOnce(stop)
	answers := load.stopAndCollect()

	acked, slowest := checkAnswers(t, answers)
	var during time.Duration // the slowest submit sent within 5s of the kill
	for _, a := range answers {
		if a.sent >= killedAt-time.Second && a.sent < killedAt+5*time.Second {
			during = max(during, a.took)
		}
	}
	t.Logf("%d calls (submits and reads), %d submits acknowledged; slowest %v, slowest around the kill %v", len(answers), len(acked), slowest, during)
	waitAllDone(t, testutil.Context(t, time.Minute), c.nodes[1], acked)
	checkCommittedOnce(t, c.nodes)
}

// TestMemberAgentKill: kill -9 of the Consul agent on a member's host.
// The member cannot renew its lease and fences itself; Consul marks its
// node failed, which ends its session, and the other members take its
// running tasks over within failoverBound; when its agent returns, it
// rejoins. Every acknowledged task completes once.
func TestMemberAgentKill(t *testing.T) {
	c := startQuorumCluster(t, "agentkill", 3)
	cut, via := c.nodes[0], c.nodes[1]
	ctx := testutil.Context(t, 2*time.Minute)

	var ids []string
	for i := range 24 {
		id := fmt.Sprintf("long-%02d", i)
		if _, err := via.Client().Submit(ctx, api.SubmitRequest{ID: id, Kind: "sleep", Payload: json.RawMessage(`{"ms":4000}`)}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var onCut []string
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		onCut = onCut[:0]
		for _, id := range ids {
			st, err := via.Client().Get(ctx, id)
			if err != nil || st.State != "running" {
				return false, fmt.Sprintf("%s: %v %v", id, st, err)
			}
			if st.Owner == cut.ID {
				onCut = append(onCut, id)
			}
		}
		return len(onCut) > 0, fmt.Sprintf("no task runs on %s", cut.ID)
	})

	c.agents[0].Kill()
	killed := time.Now()
	testutil.Eventually(t, failoverBound, func() (bool, string) {
		return len(cut.LogEntries(1, "self-fencing: stop executing and committing durable work")) > 0, cut.ID + " has not fenced itself"
	})
	fenced := time.Since(killed)
	testutil.Eventually(t, failoverBound, func() (bool, string) {
		for _, id := range onCut {
			st, err := via.Client().Get(ctx, id)
			if err != nil || (st.Owner == cut.ID && !api.IsTerminal(st.State)) {
				return false, fmt.Sprintf("%s still on %s (%v)", id, cut.ID, err)
			}
		}
		return true, ""
	})
	moved := time.Since(killed)
	t.Logf("%d of %d tasks ran on %s: it fenced itself %v after its agent was killed; its tasks left it after %v",
		len(onCut), len(ids), cut.ID, fenced.Round(time.Millisecond), moved.Round(time.Millisecond))

	c.agents[0].Restart(t)
	back := time.Now()
	waitMembers(t, c.nodes, 3)
	t.Logf("%s rejoined %v after its agent returned", cut.ID, time.Since(back).Round(time.Millisecond))
	waitAllDone(t, ctx, via, ids)
	checkCommittedOnce(t, c.nodes)
}

// failoverBound is the stated bound on a member whose agent dies: Consul's
// gossip marks the agent's node failed within seconds on loopback, the
// member's lease (2s by default) lapses, and the survivors' reconcilers
// claim its tasks; 30s leaves room for a loaded 2-core machine.
const failoverBound = 30 * time.Second

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}
