package node_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestLeaveAfterCutDrain: a member whose drain is cut short (an attempt
// outlives DrainTimeout, or a second signal) still leaves Consul when it
// stops, so the others adopt its tasks at once; the drain had spent the
// context Leave used, and the registration stayed until its lease lapsed.
func TestLeaveAfterCutDrain(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	reg := actors.NewRegistry()
	block := actors.MustTask("block", func(ctx actors.TaskContext, _ struct{}) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	})
	if err := reg.RegisterTask(block); err != nil {
		t.Fatal(err)
	}
	nodes := testcluster.Start(t, agent.HTTPAddr(), reg, 1, func(_ int, cfg *node.Config) { cfg.DrainTimeout = 300 * time.Millisecond })
	ctx := testutil.Context(t, 30*time.Second)
	c := nodes[0].Client()
	st, err := c.Submit(ctx, api.SubmitRequest{Kind: "block", Payload: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		got, err := c.Get(ctx, st.ID)
		return err == nil && got.State == api.StateRunning, "not running yet"
	})
	if err := nodes[0].Stop(context.Background()); err == nil {
		t.Fatal("Stop with an attempt outliving DrainTimeout returned nil; want the drain's error")
	}
	svcs, err := agent.Client().Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	for id, s := range svcs {
		if s.Service == "granary-"+testcluster.Cluster {
			t.Fatalf("after Stop, Consul still holds the member's registration %s: it did not leave", id)
		}
	}
}
