package grains_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/metrics"
	"github.com/granary-rt/granary/examples/kinds"
)

func limitedNode(t *testing.T, c *cluster, tweak func(*grains.Config)) *node {
	t.Helper()
	reg := actors.NewRegistry()
	if err := kinds.Register(reg); err != nil {
		t.Fatal(err)
	}
	n := c.tweakedNode("n1", reg, tweak)
	setViews([]*node{n}, n)
	return n
}

func whoami(n *node, identity string) (kinds.WhoAmIResp, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var r kinds.WhoAmIResp
	resp, err := n.host.Call(ctx, "whoami", identity, []byte(`{}`))
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(resp.GetPayload(), &r)
}

// A member at its limit of activations, none idle long enough to give
// way, refuses a call that needs a new one with ErrResourceExhausted
// (HTTP 429), and keeps serving those it has. Before, activations grew
// without bound (160,000 in 18s, 466 MB).
func TestActivationLimitRefusesNewActivations(t *testing.T) {
	c := newCluster(t)
	m := metrics.New(metrics.DefaultConfig())
	n := limitedNode(t, c, func(cfg *grains.Config) {
		cfg.MaxActivations, cfg.ActivationHighWater, cfg.PressureIdleTimeout = 10, 8, time.Hour
		cfg.Metrics = m
	})
	for i := range 10 {
		if _, err := whoami(n, fmt.Sprint("g", i)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := whoami(n, "g10")
	if !errors.Is(err, grains.ErrResourceExhausted) || !strings.Contains(err.Error(), "limit of 10") {
		t.Fatalf("the 11th identity: %v, want ErrResourceExhausted naming the limit", err)
	}
	if got := whoamiActivations(t, n); got != 10 {
		t.Fatalf("%d whoami activations, want 10", got)
	}
	if _, err := whoami(n, "g3"); err != nil {
		t.Fatalf("an identity already active, at the limit: %v", err)
	}
	if got := refusals(t, m, "activation_limit"); got != 1 {
		t.Fatalf("granary_grain_refusals_total{reason=activation_limit} = %v, want 1", got)
	}
}

// Past the high-water mark, each new activation first deactivates the
// least recently used ones idle for PressureIdleTimeout, long before
// IdleTimeout: the count stays near the mark, and the identities in use
// keep their activations.
func TestPressureDeactivatesLeastRecentlyUsedEarly(t *testing.T) {
	c := newCluster(t)
	n := limitedNode(t, c, func(cfg *grains.Config) {
		// An idle time-out long enough that the identity in use, touched
		// on every round, never goes idle for it on a loaded machine (50 ms
		// did, on CI), and rounds slow enough (pressureRound) that fewer
		// than 20-10 new identities are younger than it at any time.
		cfg.MaxActivations, cfg.ActivationHighWater, cfg.PressureIdleTimeout = 20, 10, pressureIdle
	})
	hot, err := whoami(n, "hot")
	if err != nil {
		t.Fatal(err)
	}
	cold0, err := whoami(n, "cold0")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 9; i++ {
		if _, err := whoami(n, fmt.Sprint("cold", i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(pressureIdle + 100*time.Millisecond) // the cold ones are now idle past PressureIdleTimeout
	for i := range 30 {
		// hot stays in use
		if r, err := whoami(n, "hot"); err != nil || r.Activation != hot.Activation {
			t.Fatalf("the identity in use: %+v, %v; want its activation %s kept", r, err, hot.Activation)
		}
		if _, err := whoami(n, fmt.Sprint("new", i)); err != nil {
			t.Fatalf("new identity %d under pressure: %v", i, err)
		}
		if got := whoamiActivations(t, n); got > 20 {
			t.Fatalf("%d activations after %d new ones; the limit is 20", got, i+1)
		}
		time.Sleep(pressureRound) // activations age: that is what is tested
	}
	r, err := whoami(n, "cold0")
	if err != nil {
		t.Fatal(err)
	}
	if r.Activation == cold0.Activation {
		t.Fatalf("cold0 kept its activation %s under pressure; want it deactivated early (IdleTimeout is 5 minutes)", r.Activation)
	}
}

// pressureIdle and pressureRound pace TestPressureDeactivatesLeastRecentlyUsedEarly.
const pressureIdle, pressureRound = time.Second, 150 * time.Millisecond

// whoamiActivations counts the member's whoami activations (the stock
// kinds include a singleton, which the limit leaves out).
func whoamiActivations(t *testing.T, n *node) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := n.host.ActivationsByKind(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, kc := range counts {
		if kc.Kind == "whoami" {
			return kc.Count
		}
	}
	return 0
}

// refusals reads granary_grain_refusals_total for reason, all kinds.
func refusals(t *testing.T, m *metrics.Metrics, reason string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "granary_grain_refusals_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					n += s.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
