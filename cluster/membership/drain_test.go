package membership

import (
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestDrainKeepsMember: on a real Consul, a node that drains shows as
// draining in every view while it stays a member with the same session
// (its locks and work stay its own), unfenced.
func TestDrainKeepsMember(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs a Consul agent")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := joinNodes(t, agent, "n1", "n2")
	drainer, other := nodes[0], nodes[1]
	session := drainer.m.Session()
	if err := drainer.m.Drain(testutil.Context(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		testutil.Eventually(t, 10*time.Second, func() (bool, string) {
			me, ok := n.m.View().Member(drainer.id)
			return ok && me.Draining, "view of " + n.id + " does not show " + drainer.id + " draining"
		})
	}
	if me, _ := other.m.View().Member(other.id); me.Draining {
		t.Fatalf("%s shows as draining too", other.id)
	}
	// Several renewals later, the drainer still holds its session.
	time.Sleep(3 * DefaultConfig().TTL / 2) // a window longer than the TTL, to see the lease renewed through it
	if drainer.m.Fenced() || drainer.m.Session() != session {
		t.Fatalf("after Drain: fenced %v, session %q (was %q); want the same session, unfenced", drainer.m.Fenced(), drainer.m.Session(), session)
	}
}

// TestDrainWhileTheKeyIsReclaimed: a node that holds its session but,
// for a moment, not its member key (just after its claim, or while the
// lease loop claims it again after a stale listing) drains once the claim
// lands, instead of answering fenced (CI: Drain right after Join answered
// "drain without a member key: membership: fenced").
func TestDrainWhileTheKeyIsReclaimed(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs a Consul agent")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	n := joinNodes(t, agent, "n1")[0]
	n.m.mu.Lock()
	n.m.keySession = "" // as noteOwnKey leaves it: the lease loop claims it again
	n.m.mu.Unlock()
	if err := n.m.Drain(testutil.Context(t, 10*time.Second)); err != nil {
		t.Fatalf("Drain while the member key is claimed again: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		me, ok := n.m.View().Member("n1")
		return ok && me.Draining, "the view does not show n1 draining"
	})
}
