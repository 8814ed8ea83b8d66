package grains_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/store"
)

// TestGrainErrorsAreSharedSentinels: a grain call answered by another
// member (its error crossing as a GrainErrorCode) comes back as the
// shared sentinel, which the HTTP API's table maps with no translation of
// its own: errors.Is matches errs, api and grains names alike.
func TestGrainErrorsAreSharedSentinels(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("n1", nil), c.node("n2", nil)
	setViews([]*node{n1, n2}, n1, n2)
	id := ""
	for i := 0; id == "" && i < 100; i++ {
		if r := call(t, n1, "counter", fmt.Sprintf("e%d", i), `{"op":"get"}`); r.Member == "n2" {
			id = fmt.Sprintf("e%d", i)
		}
	}
	if id == "" {
		t.Fatal("no identity of 100 is owned by n2")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, handlerErr := n1.host.Call(ctx, "counter", id, []byte(`{"op":"mul"}`))
	if _, err := n1.host.CallOnce(ctx, "counter", id, "r1", []byte(`{"op":"add","n":1}`)); err != nil {
		t.Fatal(err)
	}
	_, conflictErr := n1.host.CallOnce(ctx, "counter", id, "r1", []byte(`{"op":"add","n":2}`))
	for _, tc := range []struct {
		name string
		err  error
		want []error
		code string
	}{
		{"handler error", handlerErr, []error{errs.ErrHandler, api.ErrHandler, grains.ErrHandler}, "handler_error"},
		{"request id reused", conflictErr, []error{errs.ErrAlreadyExists, api.ErrAlreadyExists, grains.ErrConflict}, "already_exists"},
	} {
		for _, want := range tc.want {
			if !errors.Is(tc.err, want) {
				t.Errorf("%s from another member: %v does not match %v", tc.name, tc.err, want)
			}
		}
		if _, body := api.ToWire(tc.err); body.Error.Code != tc.code {
			t.Errorf("%s answers HTTP code %q, want %q", tc.name, body.Error.Code, tc.code)
		}
	}
}

// TestGrainStateConflictIsItsOwn: a grain state write that lost its
// check-and-set is a grain state conflict, not the task store's "task
// changed concurrently", and still a conflict to errs.
func TestGrainStateConflictIsItsOwn(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	if _, err := c.dir.Claim(ctx, "cart", "a", "m1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.state.SaveState(ctx, "cart", "a", "m1", []byte("one"), 0); err != nil {
		t.Fatal(err)
	}
	_, err := c.state.SaveState(ctx, "cart", "a", "m1", []byte("stale"), 0)
	if !errors.Is(err, grains.ErrStateConflict) || !errors.Is(err, errs.ErrConflict) || errors.Is(err, store.ErrConflict) {
		t.Fatalf("a stale grain state write: %v, want grains.ErrStateConflict (an errs.ErrConflict), not store.ErrConflict", err)
	}
}
