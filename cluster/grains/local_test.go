package grains_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/grains"
)

// decodes counts how often any countedReq was decoded from JSON.
var decodes atomic.Int64

type countedReq struct {
	N int `json:"n"`
}

func (r *countedReq) UnmarshalJSON(b []byte) error {
	decodes.Add(1)
	type plain countedReq
	return json.Unmarshal(b, (*plain)(r))
}

type sumReply struct {
	Sum    int    `json:"sum"`
	Member string `json:"member"`
}

type adder struct{ sum int }

func (a *adder) Receive(ctx actors.GrainContext, req countedReq) (sumReply, error) {
	a.sum += req.N
	return sumReply{Sum: a.sum, Member: ctx.MemberID()}, nil
}

type durableAdder struct{}

func (durableAdder) Receive(ctx actors.GrainContext, st int, req countedReq) (int, sumReply, error) {
	return st + req.N, sumReply{Sum: st + req.N, Member: ctx.MemberID()}, nil
}

func decodeCountingKinds(t *testing.T) *actors.Registry {
	t.Helper()
	reg := actors.NewRegistry()
	typed, err := actors.GrainOf("adder", func() actors.TypedGrain[countedReq, sumReply] { return &adder{} })
	if err != nil {
		t.Fatal(err)
	}
	durable, err := actors.GrainWithState("durable_adder", func() actors.StatefulGrain[countedReq, sumReply, int] { return durableAdder{} })
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(reg.RegisterGrain(typed), reg.RegisterGrain(durable)); err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestTypedRequestDecodedOnce: a typed grain's request is decoded once
// per member it crosses: on a call to an activation on the caller's own
// member, once (the caller's check hands its value over), not twice; to
// another member's, once there too (it gets bytes). The grain answers
// the same either way, typed and durable kinds alike.
func TestTypedRequestDecodedOnce(t *testing.T) {
	c := newCluster(t)
	reg := decodeCountingKinds(t)
	n1 := c.nodeWith("n1", nil, reg)
	n2 := c.nodeWith("n2", nil, reg)
	setViews([]*node{n1, n2}, n1, n2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, kind := range []string{"adder", "durable_adder"} {
		for _, want := range []struct {
			owner   *node
			decodes int64
		}{{n1, 1}, {n2, 2}} {
			id := identityOwnedBy(t, []grains.Member{n1.member(), n2.member()}, kind, want.owner.id)
			for i, sum := range []int{2, 5} {
				before := decodes.Load()
				resp, err := n1.host.Call(ctx, kind, id, []byte(`{"n":`+map[int]string{0: "2", 1: "3"}[i]+`}`))
				if err != nil {
					t.Fatal(err)
				}
				var r sumReply
				if err := json.Unmarshal(resp.GetPayload(), &r); err != nil {
					t.Fatal(err)
				}
				if got := decodes.Load() - before; got != want.decodes || r.Sum != sum || r.Member != want.owner.id {
					t.Errorf("%s on %s, call %d: decoded %d times, answer %+v; want %d decodes, sum %d from %s",
						kind, want.owner.id, i, got, r, want.decodes, sum, want.owner.id)
				}
			}
		}
	}
}

// TestBadTypedRequestRefused: a request that does not decode is refused
// by the caller with the kind's error, and reaches no grain.
func TestBadTypedRequestRefused(t *testing.T) {
	c := newCluster(t)
	n1 := c.nodeWith("n1", nil, decodeCountingKinds(t))
	setViews([]*node{n1}, n1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n1.host.Call(ctx, "adder", "a1", []byte(`{"n":"x"}`)); !errors.Is(err, grains.ErrInvalidArgument) || !errors.Is(err, actors.ErrInvalidPayload) ||
		!strings.Contains(err.Error(), "invalid payload for grain kind adder: json: cannot unmarshal string") {
		t.Fatalf("a bad request: %v", err)
	}
	if n := n1.host.Activations(); n != 0 {
		t.Errorf("a bad request activated %d grains", n)
	}
}

func identityOwnedBy(t *testing.T, members []grains.Member, kind, owner string) string {
	t.Helper()
	for i := range 1000 {
		id := "id-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		if o, _ := ownerOf(members, kind, id); o == owner {
			return id
		}
	}
	t.Fatalf("no identity of %s owned by %s", kind, owner)
	return ""
}
