package node

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/membership"
)

// TestPeerReachVerdict: the decision of when a member counts itself cut
// off from its peers, on an injected clock.
func TestPeerReachVerdict(t *testing.T) {
	const after = 10 * time.Second
	t0 := time.Unix(1_000_000, 0)
	cut := errors.New("tls: bad certificate")
	view := func(ids ...string) membership.View {
		v := membership.View{}
		for _, id := range ids {
			v.Members = append(v.Members, membership.Member{ID: id, Addr: id + ":7000"})
		}
		return v
	}
	type probe struct {
		at  time.Duration // after t0
		id  string
		err error
	}
	cases := []struct {
		name    string
		view    membership.View
		probes  []probe
		at      time.Duration
		cutOff  bool
		mention []string // in the verdict's error
	}{
		{name: "alone", view: view("me"), at: time.Hour},
		{name: "one peer unreachable for long: not blamed on either", view: view("me", "a"),
			probes: []probe{{1 * time.Second, "a", cut}}, at: time.Minute},
		{name: "all peers unreachable past the bound", view: view("me", "a", "b"),
			probes: []probe{{11 * time.Second, "a", cut}, {11 * time.Second, "b", cut}}, at: 11 * time.Second,
			cutOff: true, mention: []string{"a at a:7000: tls: bad certificate", "b at b:7000", "10s"}},
		{name: "all unreachable, within the bound since they appeared", view: view("me", "a", "b"),
			probes: []probe{{9 * time.Second, "a", cut}, {9 * time.Second, "b", cut}}, at: 10 * time.Second},
		{name: "one peer answers: the other one's problem", view: view("me", "a", "b", "c"),
			probes: []probe{{11 * time.Second, "a", cut}, {11 * time.Second, "b", cut}, {11 * time.Second, "c", nil}}, at: 11 * time.Second},
		{name: "a reply within the bound keeps it healthy", view: view("me", "a", "b"),
			probes: []probe{{5 * time.Second, "a", nil}, {14 * time.Second, "a", cut}, {14 * time.Second, "b", cut}}, at: 14 * time.Second},
		{name: "that reply ages past the bound", view: view("me", "a", "b"),
			probes: []probe{{5 * time.Second, "a", nil}, {16 * time.Second, "a", cut}, {16 * time.Second, "b", cut}}, at: 16 * time.Second,
			cutOff: true},
		{name: "reachable again", view: view("me", "a", "b"),
			probes: []probe{{11 * time.Second, "a", cut}, {11 * time.Second, "b", cut}, {12 * time.Second, "b", nil}}, at: 12 * time.Second},
		{name: "not probed yet (a round in flight) counts as reachable", view: view("me", "a", "b"), at: time.Minute},
		{name: "draining peers do not count", view: func() membership.View {
			v := view("me", "a", "b", "c")
			v.Members[3].Draining = true
			return v
		}(), probes: []probe{{11 * time.Second, "a", cut}, {11 * time.Second, "b", cut}, {11 * time.Second, "c", nil}}, at: 11 * time.Second,
			cutOff: true},
		{name: "a probe of a peer not in the view is ignored", view: view("me", "a", "b"),
			probes: []probe{{11 * time.Second, "a", cut}, {11 * time.Second, "b", cut}, {11 * time.Second, "zz", nil}}, at: 11 * time.Second,
			cutOff: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newPeerReach(after)
			r.track(tc.view, "me", t0)
			for _, p := range tc.probes {
				r.record(p.id, p.err, t0.Add(p.at))
			}
			err := r.verdict(t0.Add(tc.at))
			if (err != nil) != tc.cutOff {
				t.Fatalf("verdict %v, want cut off %v", err, tc.cutOff)
			}
			if err != nil && !errors.Is(err, ErrPeersUnreachable) {
				t.Fatalf("verdict %v does not wrap ErrPeersUnreachable", err)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("verdict %q does not mention %q", err, m)
				}
			}
		})
	}
}

// TestPeerReachTrack: a peer that leaves and comes back, or comes back at
// another address, gets the full bound again; one that stays keeps its
// history.
func TestPeerReachTrack(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	r := newPeerReach(10 * time.Second)
	two := membership.View{Members: []membership.Member{{ID: "a", Addr: "a:1"}, {ID: "b", Addr: "b:1"}}}
	r.track(two, "me", t0)
	r.record("a", errors.New("x"), t0.Add(11*time.Second))
	r.record("b", errors.New("x"), t0.Add(11*time.Second))
	r.track(two, "me", t0.Add(11*time.Second))
	if r.verdict(t0.Add(11*time.Second)) == nil {
		t.Fatal("peers kept in the view lost their history")
	}
	moved := membership.View{Members: []membership.Member{{ID: "a", Addr: "a:2"}, {ID: "b", Addr: "b:1"}}}
	r.track(moved, "me", t0.Add(12*time.Second))
	if err := r.verdict(t0.Add(12 * time.Second)); err != nil {
		t.Fatalf("a peer at a new address is blamed at once: %v", err)
	}
}

func TestPeerProbeConfigValidate(t *testing.T) {
	if err := DefaultPeerProbeConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []PeerProbeConfig{
		{Interval: 0, Timeout: time.Second, UnreachableAfter: time.Second},
		{Interval: time.Second, Timeout: -1, UnreachableAfter: time.Second},
		{Interval: time.Second, Timeout: 2 * time.Second, UnreachableAfter: time.Second},
	}
	for _, c := range bad {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
		cfg := DefaultConfig()
		cfg.PeerProbe = c
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Config with PeerProbe %+v: %v, want ErrInvalidConfig", c, err)
		}
	}
}

// TestPeerHealthIgnoredWhileDraining: a cut-off member fails its health
// check, unless it drains (failing would fence the attempts it lets
// finish, and no new work is placed on it anyway).
func TestPeerHealthIgnoredWhileDraining(t *testing.T) {
	n := &Node{}
	if err := n.peerHealth(); err != nil {
		t.Fatalf("no probe yet (before joining): %v", err)
	}
	p := &peerProbe{}
	cutOff := fmt.Errorf("%w: n1, n2", ErrPeersUnreachable)
	p.err.Store(&cutOff)
	n.probe.Store(p)
	if err := n.peerHealth(); !errors.Is(err, ErrPeersUnreachable) {
		t.Fatalf("cut off: %v, want ErrPeersUnreachable", err)
	}
	n.draining.Store(true)
	if err := n.peerHealth(); err != nil {
		t.Fatalf("draining: %v, want healthy", err)
	}
}
