package grains_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
)

// TestStateOutlivesActivations: the stock counter's count, acknowledged to
// callers, is there after its member is lost, in a new activation on
// another member.
func TestStateOutlivesActivations(t *testing.T) {
	c := newCluster(t)
	n1 := c.node("n1", nil)
	setViews([]*node{n1}, n1)
	call(t, n1, "counter", "c1", `{"op":"add","n":2}`)
	before := call(t, n1, "counter", "c1", `{"op":"add","n":3}`)
	c.kill(n1)
	n2 := c.node("n2", nil)
	setViews([]*node{n2}, n2)
	after := call(t, n2, "counter", "c1", `{"op":"get"}`)
	if after.Value != 5 || after.Member != "n2" || after.Activation == before.Activation {
		t.Fatalf("after the member holding it was lost: %+v (before: %+v); want 5 from a new activation on n2", after, before)
	}
}

type ledger struct {
	Entries map[string]int `json:"entries"`
}

type entry struct {
	Key  string `json:"key"`
	N    int    `json:"n"`
	Fail bool   `json:"fail"`
	Big  int    `json:"big"`
}

type ledgerGrain struct{}

// Receive changes the state in place (a map), then fails when asked to:
// the runtime must still give back the state as stored.
func (ledgerGrain) Receive(_ actors.GrainContext, st ledger, e entry) (ledger, map[string]int, error) {
	if st.Entries == nil {
		st.Entries = map[string]int{}
	}
	st.Entries[e.Key] += e.N
	if e.Big > 0 {
		st.Entries[strings.Repeat("k", e.Big)] = 1
	}
	if e.Fail {
		return st, nil, errors.New("refused after changing the map")
	}
	return st, st.Entries, nil
}

func ledgerNode(t *testing.T, c *cluster, id string) *node {
	reg := actors.NewRegistry()
	k, err := actors.GrainWithState("ledger", func() actors.StatefulGrain[entry, map[string]int, ledger] { return ledgerGrain{} })
	if err == nil {
		err = reg.RegisterGrain(k)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c.nodeWith(id, nil, reg)
}

func ledgerCall(n *node, payload string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := n.host.Call(ctx, "ledger", "l1", []byte(payload))
	return string(resp.GetPayload()), err
}

// TestFailedCallsChangeNothing: a call whose handler fails, or whose state
// would be too large to store, leaves the state as last stored, even when
// the handler changed it in place; the grain goes on from there.
func TestFailedCallsChangeNothing(t *testing.T) {
	c := newCluster(t)
	n := ledgerNode(t, c, "n1")
	setViews([]*node{n}, n)
	if out, err := ledgerCall(n, `{"key":"a","n":1}`); err != nil || out != `{"a":1}` {
		t.Fatalf("first entry: %s, %v", out, err)
	}
	if _, err := ledgerCall(n, `{"key":"a","n":5,"fail":true}`); !errors.Is(err, grains.ErrHandler) {
		t.Fatalf("a failing call: %v, want ErrHandler", err)
	}
	_, err := ledgerCall(n, `{"key":"b","n":1,"big":400000}`)
	if !errors.Is(err, grains.ErrHandler) || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("a call making the state too large: %v", err)
	}
	if out, err := ledgerCall(n, `{"key":"a","n":1}`); err != nil || out != `{"a":2}` {
		t.Fatalf("after two failed calls: %s, %v; want only the stored entry, a=2", out, err)
	}
	data, _, err := c.state.LoadState(context.Background(), "ledger", "l1")
	rec := &messages.GrainStateRecord{}
	if err == nil {
		err = proto.Unmarshal(data, rec)
	}
	if err != nil || string(rec.GetState()) != `{"entries":{"a":2}}` {
		t.Fatalf("stored: %s, %v", rec.GetState(), err)
	}
}

// TestLostClaimWritesNothing: an activation whose member lost its claim
// (Consul released it: the member was paused or cut off) while another
// member's activation took over cannot write the state any more, even
// before its successor has written anything (the claim is checked in the
// write, not only the version): its write is refused, its caller gets a
// retryable error, and it deactivates.
func TestLostClaimWritesNothing(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("n1", nil), c.node("n2", nil)
	setViews([]*node{n1}, n1)
	setViews([]*node{n2}, n2)
	old := call(t, n1, "counter", "x", `{"op":"add","n":1}`)
	c.dir.ReleaseAll("n1") // what Consul does when n1's session ends
	taken := call(t, n2, "counter", "x", `{"op":"get"}`)
	if taken.Value != 1 || taken.Member != "n2" {
		t.Fatalf("the successor: %+v, want 1 on n2", taken)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// n1's old activation is still there (nothing told it): its write must fail.
	resp, err := n1.host.Call(ctx, "counter", "x", []byte(`{"op":"add","n":100}`))
	if err == nil {
		t.Fatalf("the old activation (%s) answered after losing its claim: %s", old.Activation, resp.GetPayload())
	}
	if got := call(t, n2, "counter", "x", `{"op":"add","n":10}`); got.Value != 11 {
		t.Fatalf("after the old activation's attempt: %+v, want 11 (1 + 10)", got)
	}
}

// TestRequestsApplyOnce: a request id is applied once: a retry of it (its
// answer lost) gets the same answer without being applied again, on the
// same activation or on its successor after a failover.
func TestRequestsApplyOnce(t *testing.T) {
	c := newCluster(t)
	n1 := c.node("n1", nil)
	setViews([]*node{n1}, n1)
	add := func(n *node, id string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := n.host.CallOnce(ctx, "counter", "once", id, []byte(`{"op":"add","n":1}`))
		if err != nil {
			t.Fatalf("add %s: %v", id, err)
		}
		return string(resp.GetPayload())
	}
	first := add(n1, "req-1")
	if again := add(n1, "req-1"); again != first {
		t.Fatalf("a retry of req-1 answered %s, first %s", again, first)
	}
	add(n1, "req-2")
	c.kill(n1)
	n2 := c.node("n2", nil)
	setViews([]*node{n2}, n2)
	if again := add(n2, "req-1"); again != first {
		t.Fatalf("a retry of req-1 on the successor answered %s, first %s", again, first)
	}
	if got := call(t, n2, "counter", "once", `{"op":"get"}`); got.Value != 2 {
		t.Fatalf("count %d after req-1 (three times) and req-2; want 2", got.Value)
	}
}
