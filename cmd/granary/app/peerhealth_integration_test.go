package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/internal/netproxy"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestMemberCutFromPeersTurnsUnhealthy: three members on a real Consul;
// the third's remoting goes through a proxy (--advertise), while its HTTP
// API and Consul stay reachable. With the proxy severed, it reaches none
// of its peers: within the probe's bound its /healthz fails naming the
// cause, Consul drops it from the others' views, the identities it hosted
// answer from the others, and it logs the cause once. Restored, it is
// healthy and a member again. Before the peer probe it stayed healthy and
// every call placed on it timed out.
func TestMemberCutFromPeersTurnsUnhealthy(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	bind := testnode.FreeAddr(t)
	proxy, err := netproxy.New("127.0.0.1:0", bind)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	n1 := testnode.ClusterNode(t, "it", agent.HTTPAddr(), "n1")
	n2 := testnode.ClusterNode(t, "it", agent.HTTPAddr(), "n2")
	// The later --bind wins over testnode's own.
	cut := testnode.ClusterNode(t, "it", agent.HTTPAddr(), "n3", "--bind", bind, "--advertise", proxy.Addr())
	nodes := []*testnode.Node{n1, n2, cut}
	waitMembers(t, nodes, 3)
	ctx := testutil.Context(t, 3*time.Minute)
	mine := identitiesOn(t, ctx, n1.Client(), cut.ID, "ph-", 10)

	proxy.Sever()
	severed := time.Now()
	direct, err := client.New(client.Config{Addr: cut.HTTP, RetryFor: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// The bound: the probe's (UnreachableAfter), a probe's time-out, a
	// round's interval and Consul's check interval, plus slack for a
	// loaded machine.
	pc := node.DefaultPeerProbeConfig()
	bound := pc.UnreachableAfter + pc.Timeout + pc.Interval + time.Second + 5*time.Second
	var cause string
	testutil.Eventually(t, bound, func() (bool, string) {
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := direct.Health(short)
		if err == nil {
			return false, "the cut-off member still answers /healthz ok"
		}
		cause = err.Error()
		return true, ""
	})
	t.Logf("cut-off member unhealthy %s after the sever: %s", time.Since(severed).Round(100*time.Millisecond), cause)
	for _, want := range []string{"reaches none of its peers", "n1 at ", "n2 at "} {
		if !strings.Contains(cause, want) {
			t.Errorf("/healthz's cause %q does not mention %q", cause, want)
		}
	}
	// Consul marks it critical: the others' views drop it.
	waitMembers(t, []*testnode.Node{n1, n2}, 2)
	// Its identities are answered by the others.
	for _, id := range mine {
		testutil.Eventually(t, 20*time.Second, func() (bool, string) {
			short, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			w, err := whoami(short, n1.Client(), id)
			return err == nil && w.Member != cut.ID, fmt.Sprintf("%s: %+v %v", id, w, err)
		})
	}
	t.Logf("all %d identities of the cut-off member answered by the others %s after the sever", len(mine), time.Since(severed).Round(100*time.Millisecond))
	for _, nd := range []*testnode.Node{n1, n2} {
		if _, err := nd.Client().Health(ctx); err != nil {
			t.Errorf("%s, which reaches the other survivor, is unhealthy: %v", nd.ID, err)
		}
	}

	proxy.Restore()
	restored := time.Now()
	waitMembers(t, nodes, 3)
	t.Logf("cut-off member a member again %s after the restore", time.Since(restored).Round(100*time.Millisecond))
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		w, err := whoami(ctx, direct, "after-restore")
		return err == nil, fmt.Sprintf("the restored member does not serve calls: %+v %v", w, err)
	})
	if got := len(cut.LogEntries(0, "unhealthy: this member reaches none of its peers; /healthz fails until it does")); got != 1 {
		t.Errorf("the cut-off member logged its cause %d times, want once", got)
	}
	if len(cut.LogEntries(0, "healthy again: this member reaches its peers")) != 1 {
		t.Error("the restored member did not log that it reaches its peers again")
	}
}
