package consulstore

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/hashicorp/consul/api"
)

// TestCallsAreBoundedWhenConsulHangs: an agent that accepts connections
// and never answers (a paused Consul server behind it, no quorum) makes
// every store call fail with ErrUnavailable after CallTimeout, and the
// calls that follow after OutageCallTimeout, instead of waiting for the
// caller's deadline.
func TestCallsAreBoundedWhenConsulHangs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan []net.Conn, 1)
	go func() {
		var conns []net.Conn // held open, never answered
		defer func() { accepted <- conns }()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for _, c := range <-accepted {
			c.Close()
		}
	})
	c, err := api.NewClient(&api.Config{Address: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig("bound")
	cfg.ReconcileEvery = -1
	cfg.CallTimeout, cfg.OutageCallTimeout = 600*time.Millisecond, 200*time.Millisecond
	s, err := New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	task := &messages.Task{Spec: &messages.TaskSpec{Id: "t1", Kind: "k"}}
	for i, tc := range []struct {
		name string
		call func(ctx context.Context) error
		max  time.Duration
	}{
		{"first get", func(ctx context.Context) error { _, err := s.Get(ctx, "t1"); return err }, cfg.CallTimeout},
		{"create during the outage", func(ctx context.Context) error { _, _, err := s.Create(ctx, task); return err }, cfg.OutageCallTimeout},
		{"update during the outage", func(ctx context.Context) error { _, err := s.Update(ctx, task, 7); return err }, cfg.OutageCallTimeout},
	} {
		began := time.Now()
		err := tc.call(context.Background()) // no deadline of the caller's
		took := time.Since(began)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%d %s: %v, want store.ErrUnavailable", i, tc.name, err)
		}
		if took < tc.max/2 || took > tc.max+time.Second {
			t.Errorf("%d %s: answered after %v, want about %v", i, tc.name, took, tc.max)
		}
	}
}
