//go:build linux

package faulttest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/membership"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestRestartedBySupervisorAfterKill is issue #22's "restarted by a
// supervisor": a member killed with SIGKILL and started again at once, as
// systemd's Restart=on-failure does, while Consul's catalog still lists the
// dead run's lease as passing. The agent that runs the lease's TTL timer
// marks it critical within the TTL, but its anti-entropy does not retry a
// failed sync of that change (a leader election, a token rotated away)
// until the next change or its periodic full sync, a minute or more later.
// Here the token the dead run registered with is deleted, so the catalog
// keeps the stale "passing" for as long as nothing replaces the
// registration. The new run must recognise its predecessor's registration
// on its own agent, wait for that agent to see the lease lapse, say so in
// its log, and join; the task the dead run held runs again and completes.
// Before the fix the new run exited with "node id already in use … has
// renewed its lease for 4s".
func TestRestartedBySupervisorAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Consul server with ACLs and a granary process")
	}
	const cluster = "restarted"
	agent := testconsul.Start(t, testconsul.Options{Mode: testconsul.Server, ACLToken: "root-token-for-tests"})
	acl := agent.Client().ACL()
	policy, _, err := acl.PolicyCreate(&consul.ACLPolicy{Name: "granary-node", Rules: membership.NodePolicy(cluster)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	newToken := func() *consul.ACLToken {
		t.Helper()
		tok, _, err := acl.TokenCreate(&consul.ACLToken{Policies: []*consul.ACLTokenPolicyLink{{ID: policy.ID}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := newToken()
	t.Setenv("CONSUL_HTTP_TOKEN", first.SecretID)
	n1 := testnode.ClusterNode(t, cluster, agent.HTTPAddr(), "n1")
	ctx := testutil.Context(t, 2*time.Minute)
	if _, err := n1.Client().Submit(ctx, api.SubmitRequest{ID: "held", Kind: "sleep", Payload: json.RawMessage(`{"ms":3000}`)}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		st, err := n1.Client().Get(ctx, "held")
		return err == nil && st.State == api.StateRunning, fmt.Sprintf("task held: %+v %v", st, err)
	})

	n1.Kill()
	killed := time.Now()
	if _, err := acl.TokenDelete(first.AccessorID, nil); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONSUL_HTTP_TOKEN", newToken().SecretID)
	n1.Start() // fails the test if the new run exits instead of joining
	joined := time.Since(killed)

	waits := n1.LogEntries(2, "a previous run of this node holds its lease on this host's Consul agent; waiting for it to lapse (restarted right after it died?)")
	frees := n1.LogEntries(2, "the node id is free: the lease of its previous holder has lapsed")
	if len(waits) == 0 || len(frees) == 0 {
		t.Fatalf("the new run did not log that it waited out its predecessor's lease (%d wait lines, %d lapse lines)", len(waits), len(frees))
	}
	t.Logf("the new run joined %v after the kill (lease TTL 2s)", joined.Round(time.Millisecond))
	st, err := n1.Client().Wait(ctx, "held", nil)
	if err != nil || st.State != api.StateCompleted {
		t.Fatalf("the task the dead run held: %+v, %v; want completed", st, err)
	}
}
