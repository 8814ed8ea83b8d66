package membership

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestRegisteredListsUnhealthyMembers: Registered lists every registered
// member, healthy or not: one whose /healthz fails is still listed, not
// healthy, naming the failing check, while the views drop it.
func TestRegisteredListsUnhealthyMembers(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := joinNodes(t, agent, "n1", "n2")
	n1, n2 := nodes[0], nodes[1]
	testutil.Eventually(t, settle, allSeeExactly(nodes, "n1", "n2"))
	ctx := testutil.Context(t, time.Minute)
	regs, err := n1.m.Registered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(regs) != 2 || regs[0].ID != "n1" || regs[1].ID != "n2" || !regs[0].Healthy || !regs[1].Healthy || regs[1].HTTPAddr != n2.health.addr {
		t.Fatalf("registered %+v; want n1 and n2, healthy, with their HTTP addresses", regs)
	}
	n2.health.SetStatus(http.StatusInternalServerError)
	testutil.Eventually(t, settle, allSeeExactly([]*testNode{n1}, "n1"))
	testutil.Eventually(t, settle, func() (bool, string) {
		regs, err := n1.m.Registered(ctx)
		if err != nil {
			return false, err.Error()
		}
		if len(regs) == 2 && regs[0].Healthy && !regs[1].Healthy && strings.Contains(regs[1].Failing, "critical") {
			return true, ""
		}
		return false, fmt.Sprintf("registered %+v; want n2 listed, unhealthy, with its critical check", regs)
	})
}

// TestLeaseAge: a joined member's lease age stays below FenceAfter while
// it renews (it is the time since the last acknowledged renewal).
func TestLeaseAge(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	n := joinNode(t, agent, "n1", nodeOptions{})
	for range 3 {
		age, ok := n.m.LeaseAge()
		if !ok || age < 0 || age >= n.m.cfg.FenceAfter {
			t.Fatalf("lease age %v (%v); want within [0, %v) while renewing", age, ok, n.m.cfg.FenceAfter)
		}
		time.Sleep(n.m.cfg.RenewInterval) // sample across renewals
	}
}
