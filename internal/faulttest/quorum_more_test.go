//go:build linux

package faulttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testutil"
)

// listingDeadline is how soon a listing must answer while Consul has no
// quorum: the API's store deadline (httpapi's 4s) plus the hops around
// it, under the 5s a client gives a request.
const listingDeadline = 4500 * time.Millisecond

// TestNoQuorumListingsAnswer503: while two of the three Consul servers are
// paused, the listings (GET /v1/tasks, with and without a state filter,
// and GET /v1/jobs) answer 200 or 503 with Retry-After within the store
// deadline on every member: none hangs to the client's time-out, none
// answers 500. Once the quorum is back they answer 200 again.
func TestNoQuorumListingsAnswer503(t *testing.T) {
	c := startQuorumCluster(t, "listings", 2)
	ctx := testutil.Context(t, 2*time.Minute)
	for i := range 20 {
		if _, err := c.nodes[i%2].Client().Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("l-%02d", i), Kind: "sleep", Payload: json.RawMessage(`{"ms":10}`)}); err != nil {
			t.Fatal(err)
		}
	}
	paths := []string{"/v1/tasks", "/v1/tasks?state=completed", "/v1/jobs"}
	load := &submitLoad{hc: &http.Client{Timeout: clientDeadline}, began: time.Now()}
	probe := func() []submitAnswer {
		var out []submitAnswer
		for _, n := range c.nodes {
			for _, p := range paths {
				req, _ := http.NewRequest(http.MethodGet, "http://"+n.HTTP+p, nil)
				out = append(out, load.do("list", n.ID+" "+p, req))
			}
		}
		return out
	}
	for _, a := range probe() {
		if a.status != http.StatusOK {
			t.Fatalf("before the outage: GET %s answered %d: %s", a.id, a.status, a.err)
		}
	}

	paused := c.q.PauseServers(2)
	t.Logf("paused %d of 3 servers", len(paused))
	var during []submitAnswer
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); {
		during = append(during, probe()...)
	}
	c.q.ResumeAll()

	unavailable, slowest := 0, time.Duration(0)
	for _, a := range during {
		slowest = max(slowest, a.took)
		switch {
		case a.took > listingDeadline:
			t.Errorf("GET %s answered %d after %v, beyond %v: %s", a.id, a.status, a.took, listingDeadline, a.err)
		case a.status == http.StatusServiceUnavailable && a.retryAfter != "":
			unavailable++
		case a.status != http.StatusOK:
			t.Errorf("GET %s answered %d (Retry-After %q) after %v: %s", a.id, a.status, a.retryAfter, a.took, a.err)
		}
	}
	t.Logf("%d listings without quorum: %d answered 503 with Retry-After, slowest %v", len(during), unavailable, slowest)
	if unavailable == 0 {
		t.Error("no listing answered 503 while Consul had no quorum: were they served from a cache?")
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		for _, a := range probe() {
			if a.status != http.StatusOK {
				return false, fmt.Sprintf("GET %s answered %d after the quorum returned: %s", a.id, a.status, a.err)
			}
		}
		return true, ""
	})
}

// TestConsulServerStoppedForGood: one of the three Consul servers is
// stopped and never returns (a host retired without replacing it). The
// two left keep the quorum: submits go on, answering 201 or 503 with
// Retry-After within the client's deadline; a member killed afterwards
// has its tasks taken over by the others; every acknowledged task
// completes, none is finished twice.
func TestConsulServerStoppedForGood(t *testing.T) {
	c := startQuorumCluster(t, "onegone", 3)
	stop := make(chan struct{})
	load := startSubmitLoad(c.nodes[1:], 4, `{"ms":1500}`, stop)
	t.Cleanup(func() { closeOnce(stop) })

	time.Sleep(2 * time.Second) // the load reaches a healthy cluster first
	leader := c.q.WaitLeader(t, 5*time.Second)
	gone := c.q.Followers(leader)[0]
	gone.Stop()
	t.Logf("stopped server %s for good at %v", gone.ServerAddr(), time.Since(load.began))
	time.Sleep(3 * time.Second)
	c.nodes[0].Kill() // failover on two servers
	killedAt := time.Since(load.began)
	time.Sleep(8 * time.Second)
	closeOnce(stop)
	answers := load.stopAndCollect()

	acked, slowest := checkAnswers(t, answers)
	t.Logf("%d calls, %d submits acknowledged, slowest %v; member %s killed at %v", len(answers), len(acked), slowest, c.nodes[0].ID, killedAt)
	if len(acked) == 0 {
		t.Fatal("no submit was acknowledged on two servers")
	}
	waitAllDone(t, testutil.Context(t, 90*time.Second), c.nodes[1], acked)
	checkCommittedOnce(t, c.nodes)
}

// TestMemberAgentRestart: the Consul agent on a member's host is stopped
// with SIGTERM and started again, as an upgrade of Consul on that host
// does. A client agent leaves the cluster on SIGTERM, which ends the
// member's session: the member fences itself, the others take its running
// tasks, and it rejoins once its agent is back. Every acknowledged task
// completes once.
func TestMemberAgentRestart(t *testing.T) {
	c := startQuorumCluster(t, "agentrestart", 3)
	stop := make(chan struct{})
	load := startSubmitLoad(c.nodes[1:], 3, `{"ms":2000}`, stop)
	t.Cleanup(func() { closeOnce(stop) })
	ctx := testutil.Context(t, 2*time.Minute)
	restarted := c.nodes[0]
	var ids []string
	for i := range 12 {
		id := fmt.Sprintf("ar-%02d", i)
		if _, err := restarted.Client().Submit(ctx, api.SubmitRequest{ID: id, Kind: "sleep", Payload: json.RawMessage(`{"ms":3000}`)}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}

	began := time.Now()
	c.agents[0].Restart(t)
	t.Logf("agent of %s restarted in %v", restarted.ID, time.Since(began).Round(time.Millisecond))
	waitMembers(t, c.nodes, 3)
	back := time.Since(began)
	if len(restarted.LogEntries(1, "self-fencing: stop executing and committing durable work")) == 0 {
		t.Logf("note: %s did not fence itself while its agent restarted", restarted.ID)
	}
	time.Sleep(3 * time.Second)
	closeOnce(stop)
	answers := load.stopAndCollect()
	acked, slowest := checkAnswers(t, answers)
	t.Logf("%s seen by every member again %v after its agent's restart began; %d calls, slowest %v", restarted.ID, back.Round(time.Millisecond), len(answers), slowest)
	waitAllDone(t, ctx, c.nodes[1], append(ids, acked...))
	checkCommittedOnce(t, c.nodes)
}
