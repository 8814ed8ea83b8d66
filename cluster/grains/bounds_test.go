package grains_test

import (
	"errors"
	"strings"
	"testing"

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
