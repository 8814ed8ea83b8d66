package grains_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/grains/remindertest"
)

// A reminder set 9e12 ms ahead (285 years: past the Unix-nanosecond
// range) is refused as an invalid argument, nothing of it is stored, and
// nothing fires; before, its due time wrapped around to 1727 and it fired
// at once.
func TestReminderOverflowingDelayIsRefused(t *testing.T) {
	c := newCluster(t)
	rec := &remindertest.Recorder{}
	n := c.remindingNode("n1", rec, 0)
	setViews([]*node{n}, n)
	for _, cmd := range []remindertest.Command{
		{Op: "set", Name: "far", AfterMs: 9e12},
		{Op: "set", Name: "far", AfterMs: 9e12, PeriodMs: 3_600_000},
		{Op: "set", Name: "wrap", AfterMs: 1e16},
		{Op: "set", Name: "slow", AfterMs: 10, PeriodMs: 20 * 365 * 24 * 3_600_000},
	} {
		_, err := tryCommand(n, "g", cmd)
		if !errors.Is(err, grains.ErrInvalidArgument) || !strings.Contains(err.Error(), "maximum") {
			t.Fatalf("%+v: err %v, want ErrInvalidArgument naming the maximum", cmd, err)
		}
	}
	if r := command(t, n, "g", remindertest.Command{Op: "get"}); len(r.Reminders) != 0 {
		t.Fatalf("refused reminders were kept: %+v", r.Reminders)
	}
}

// A request id reused for another request is refused with ErrConflict,
// and nothing is applied; before, "add 1000" under the id of an earlier
// "add 1" was answered 1, as if applied. The same request again is still
// a retry and gets the stored answer.
func TestRequestIDReusedForAnotherRequestConflicts(t *testing.T) {
	c := newCluster(t)
	n := c.node("n1", nil)
	setViews([]*node{n}, n)
	add := func(id, payload string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := n.host.CallOnce(ctx, "counter", "reuse", id, []byte(payload))
		return string(resp.GetPayload()), err
	}
	first, err := add("req-1", `{"op":"add","n":1}`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = add("req-1", `{"op":"add","n":1000}`)
	if !errors.Is(err, grains.ErrConflict) || !strings.Contains(err.Error(), "req-1") {
		t.Fatalf("add 1000 under req-1: err %v, want ErrConflict naming the id", err)
	}
	if again, err := add("req-1", `{"op":"add","n":1}`); err != nil || again != first {
		t.Fatalf("a retry of req-1: %s, %v; want %s", again, err, first)
	}
	if got := call(t, n, "counter", "reuse", `{"op":"get"}`); got.Value != 1 {
		t.Fatalf("count %d, want 1: the conflicting request must not apply", got.Value)
	}
}
