package grains_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/placement"
	"github.com/granary-rt/granary/examples/kinds"
	"github.com/granary-rt/granary/internal/testutil"
)

type node struct {
	id   string
	sys  *actor.ActorSystem
	host *grains.Host
}

// cluster is one actor system shared by several members, each with its own
// router (named after the member). Cross-process behaviour over gRPC is
// covered by the granary node integration tests.
type cluster struct {
	t     *testing.T
	sys   *actor.ActorSystem
	dir   *grains.LocalDirectory
	state *grains.LocalState
}

func newCluster(t *testing.T) *cluster {
	quiet := testutil.Logger(t, slog.LevelInfo)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	t.Cleanup(sys.Shutdown)
	dir := &grains.LocalDirectory{}
	return &cluster{t: t, sys: sys, dir: dir, state: &grains.LocalState{Directory: dir}}
}

func (c *cluster) node(id string, hosted []string) *node {
	c.t.Helper()
	reg := actors.NewRegistry()
	if err := kinds.Register(reg); err != nil {
		c.t.Fatal(err)
	}
	return c.nodeWith(id, hosted, reg)
}

// nodeWith starts member id hosting the kinds of reg.
func (c *cluster) nodeWith(id string, hosted []string, reg *actors.Registry) *node {
	t := c.t
	t.Helper()
	cfg := grains.DefaultConfig(id)
	cfg.Registry, cfg.System, cfg.Directory, cfg.State, cfg.Kinds = reg, c.sys, c.dir, c.state, hosted
	cfg.Logger = testutil.Logger(t, slog.LevelWarn)
	h, err := grains.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	return &node{id: id, sys: c.sys, host: h}
}

func (n *node) member() grains.Member {
	return grains.Member{ID: n.id, Addr: n.sys.Address(), Kinds: n.host.HostedKinds()}
}

// kill makes the member vanish as a crashed process does: its router and
// activations stop, and the directory drops its claims (what Consul does
// when the member's session is invalidated).
func (c *cluster) kill(n *node) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = n.host.Stop(ctx) // a dead process runs no standby loops either
	_ = c.sys.Root.PoisonFuture(actor.NewPID(c.sys.Address(), grains.RouterName(n.id))).Wait()
	c.dir.ReleaseAll(n.id)
}

func setViews(nodes []*node, members ...*node) {
	var view []grains.Member
	for _, m := range members {
		view = append(view, m.member())
	}
	for _, n := range nodes {
		n.host.SetView(view)
	}
}

type reply struct {
	Value      int64  `json:"value"`
	Member     string `json:"member"`
	Activation string `json:"activation"`
}

func call(t *testing.T, n *node, kind, id, payload string) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := n.host.Call(ctx, kind, id, []byte(payload))
	if err != nil {
		t.Fatalf("%s: Call(%s/%s): %v", n.id, kind, id, err)
	}
	var r reply
	if err := json.Unmarshal(resp.GetPayload(), &r); err != nil {
		t.Fatalf("reply %s: %v", resp.GetPayload(), err)
	}
	if r.Member != resp.GetMember() || r.Activation != resp.GetActivationId() {
		t.Fatalf("reply %+v does not match response %s/%s", r, resp.GetMember(), resp.GetActivationId())
	}
	return r
}

func TestCallsSpreadAndKeepState(t *testing.T) {
	c := newCluster(t)
	nodes := []*node{c.node("n1", nil), c.node("n2", nil), c.node("n3", nil)}
	setViews(nodes, nodes...)
	owners := map[string]int{}
	for i := 0; i < 60; i++ {
		id := fmt.Sprintf("c%d", i)
		first := call(t, nodes[i%3], "counter", id, `{"op":"add","n":2}`)
		second := call(t, nodes[(i+1)%3], "counter", id, `{"op":"add","n":3}`)
		if second.Value != 5 || second.Activation != first.Activation || second.Member != first.Member {
			t.Fatalf("%s: %+v then %+v; want one activation counting to 5", id, first, second)
		}
		owners[first.Member]++
	}
	if len(owners) != 3 {
		t.Fatalf("60 identities landed on %v; want all three members", owners)
	}
}

func TestHandlerErrorIsNotRetried(t *testing.T) {
	n := newCluster(t).node("n1", nil)
	setViews([]*node{n}, n)
	_, err := n.host.Call(context.Background(), "counter", "x", []byte(`{"op":"mul"}`))
	if !errors.Is(err, grains.ErrHandler) {
		t.Fatalf("Call with an op the grain rejects: %v, want ErrHandler", err)
	}
	for _, c := range []struct{ kind, payload string }{{"nope", `{}`}, {"counter", `{"op":1}`}} {
		if _, err := n.host.Call(context.Background(), c.kind, "x", []byte(c.payload)); !errors.Is(err, grains.ErrInvalidArgument) {
			t.Errorf("Call(%s, %s): %v, want ErrInvalidArgument", c.kind, c.payload, err)
		}
	}
	// Identities are as strict as task ids: they name Consul keys.
	for _, id := range []string{"", "../evil", "a b", "a/b", strings.Repeat("x", 129)} {
		if _, err := n.host.Call(context.Background(), "counter", id, []byte(`{"op":"get"}`)); !errors.Is(err, grains.ErrInvalidArgument) {
			t.Errorf("Call(counter, %q): %v, want ErrInvalidArgument", id, err)
		}
	}
}

// TestMemberLossMovesIdentities kills a member: its identities answer again
// from survivors, with new activations; the others keep theirs.
func TestMemberLossMovesIdentities(t *testing.T) {
	c := newCluster(t)
	nodes := []*node{c.node("n1", nil), c.node("n2", nil), c.node("n3", nil)}
	setViews(nodes, nodes...)
	before := map[string]reply{}
	for i := 0; i < 30; i++ {
		id := fmt.Sprintf("w%d", i)
		before[id] = call(t, nodes[0], "whoami", id, `{}`)
	}
	c.kill(nodes[2])
	setViews(nodes[:2], nodes[:2]...)
	moved := 0
	for id, b := range before {
		after := call(t, nodes[1], "whoami", id, `{}`)
		switch {
		case b.Member == "n3":
			moved++
			if after.Member == "n3" || after.Activation == b.Activation {
				t.Errorf("%s still answered from the dead member: %+v", id, after)
			}
		case after.Activation != b.Activation:
			t.Errorf("%s moved from %+v to %+v although its member lives", id, b, after)
		}
	}
	if moved == 0 {
		t.Fatal("no identity was on the killed member; the test proved nothing")
	}
}

// TestInFlightCallFailsOverWhenMemberLeaves: a call waiting on a member that
// never answers (a hung or dead process) fails over as soon as the member
// leaves the view, not after the call's time-out.
func TestInFlightCallFailsOverWhenMemberLeaves(t *testing.T) {
	c := newCluster(t)
	a := c.node("a", nil)
	// ghost swallows every request, like a member that died mid-call.
	if _, err := c.sys.Root.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {}), grains.RouterName("ghost")); err != nil {
		t.Fatal(err)
	}
	ghost := grains.Member{ID: "ghost", Addr: c.sys.Address(), Kinds: a.host.HostedKinds()}
	a.host.SetView([]grains.Member{a.member(), ghost})
	var id string
	for i := 0; id == ""; i++ {
		cand := fmt.Sprintf("f%d", i)
		if owner, _ := ownerOf([]grains.Member{a.member(), ghost}, "whoami", cand); owner == "ghost" {
			id = cand
		}
	}
	done := make(chan reply, 1)
	start := time.Now()
	go func() { done <- call(t, a, "whoami", id, `{}`) }()
	select {
	case <-done:
		t.Fatal("the ghost answered")
	case <-time.After(200 * time.Millisecond): // the call is now waiting on the ghost
	}
	a.host.SetView([]grains.Member{a.member()})
	select {
	case r := <-done:
		if r.Member != "a" {
			t.Fatalf("answered by %s, want a", r.Member)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("failover took %s; want well under the 10s call time-out", took)
		}
	case <-time.After(9 * time.Second):
		t.Fatal("the in-flight call did not fail over when its member left the view")
	}
}

func ownerOf(members []grains.Member, kind, identity string) (string, bool) {
	var pm []placement.Member
	for _, m := range members {
		pm = append(pm, placement.Member{ID: m.ID, Kinds: m.Kinds})
	}
	return placement.Owner(pm, kind, identity)
}

// TestJoinDoesNotReshuffle: after a member joins, running activations stay
// where they are (callers are redirected to them); no identity has two
// activations.
func TestJoinDoesNotReshuffle(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("n1", nil), c.node("n2", nil)
	setViews([]*node{n1, n2}, n1, n2)
	before := map[string]reply{}
	for i := 0; i < 40; i++ {
		id := fmt.Sprintf("j%d", i)
		before[id] = call(t, n1, "counter", id, `{"op":"add","n":1}`)
	}
	n3 := c.node("n3", nil)
	all := []*node{n1, n2, n3}
	setViews(all, all...)
	for id, b := range before {
		for _, via := range all {
			r := call(t, via, "counter", id, `{"op":"get"}`)
			if r.Activation != b.Activation || r.Value != 1 {
				t.Fatalf("%s via %s: %+v, want the running activation %+v", id, via.id, r, b)
			}
		}
	}
	fresh := map[string]int{}
	for i := 0; i < 60; i++ {
		fresh[call(t, n1, "whoami", fmt.Sprintf("new%d", i), `{}`).Member]++
	}
	if fresh["n3"] == 0 {
		t.Fatalf("new activations %v; want some on the new member", fresh)
	}
}

func TestRolesRestrictKinds(t *testing.T) {
	c := newCluster(t)
	counters := c.node("counters", []string{"counter"})
	probes := c.node("probes", []string{"whoami"})
	setViews([]*node{counters, probes}, counters, probes)
	for i := 0; i < 20; i++ {
		if m := call(t, probes, "counter", fmt.Sprintf("r%d", i), `{"op":"get"}`).Member; m != "counters" {
			t.Fatalf("counter activated on %s", m)
		}
		if m := call(t, counters, "whoami", fmt.Sprintf("r%d", i), `{}`).Member; m != "probes" {
			t.Fatalf("whoami activated on %s", m)
		}
	}
}

func TestFencedMemberRefuses(t *testing.T) {
	dir := &grains.LocalDirectory{}
	var fenced sync.Mutex
	isFenced := false
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	defer sys.Shutdown()
	reg := actors.NewRegistry()
	_ = kinds.Register(reg)
	cfg := grains.DefaultConfig("solo")
	cfg.Registry, cfg.System, cfg.Directory = reg, sys, dir
	cfg.Fenced = func() bool { fenced.Lock(); defer fenced.Unlock(); return isFenced }
	h, err := grains.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	h.SetView([]grains.Member{{ID: "solo", Addr: sys.Address(), Kinds: h.HostedKinds()}})
	if _, err := h.Call(context.Background(), "whoami", "x", nil); err != nil {
		t.Fatal(err)
	}
	fenced.Lock()
	isFenced = true
	fenced.Unlock()
	h.Fence()
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		return h.Activations() == 0, fmt.Sprintf("%d activations live while fenced", h.Activations())
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := h.Call(ctx, "whoami", "x", nil); !errors.Is(err, grains.ErrUnavailable) {
		t.Fatalf("call to a fenced member: %v, want ErrUnavailable", err)
	}
	if holder, _ := dir.Claim(context.Background(), "whoami", "x", "other"); holder != "other" {
		t.Fatalf("the fenced member still holds the claim (%s)", holder)
	}
}

type leaderReply struct {
	Member     string `json:"member"`
	Activation string `json:"activation"`
}

func leaderOf(t *testing.T, n *node) leaderReply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := n.host.Call(ctx, "leader", "any-identity", nil)
	if err != nil {
		t.Fatalf("leader call via %s: %v", n.id, err)
	}
	var r leaderReply
	_ = json.Unmarshal(resp.GetPayload(), &r)
	return r
}

// TestSingletonTakeover: the singleton is activated eagerly on one member,
// every caller reaches that one activation, and when its member dies a
// standby takes over without any call to trigger it.
func TestSingletonTakeover(t *testing.T) {
	c := newCluster(t)
	nodes := []*node{c.node("n1", nil), c.node("n2", nil), c.node("n3", nil)}
	setViews(nodes, nodes...)
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		total := 0
		for _, n := range nodes {
			total += n.host.Activations()
		}
		return total == 1, fmt.Sprintf("%d activations before any call, want the eager singleton", total)
	})
	first := leaderOf(t, nodes[0])
	for _, n := range nodes[1:] {
		if r := leaderOf(t, n); r != first {
			t.Fatalf("via %s the leader is %+v, via n1 %+v: two singletons", n.id, r, first)
		}
	}
	var holder *node
	var rest []*node
	for _, n := range nodes {
		if n.id == first.Member {
			holder = n
		} else {
			rest = append(rest, n)
		}
	}
	c.kill(holder)
	setViews(rest, rest...)
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		return rest[0].host.Activations()+rest[1].host.Activations() == 1, "no standby took over"
	})
	second := leaderOf(t, rest[0])
	if second.Member == first.Member || second.Activation == first.Activation || leaderOf(t, rest[1]) != second {
		t.Fatalf("after the holder died: %+v (was %+v)", second, first)
	}
}
