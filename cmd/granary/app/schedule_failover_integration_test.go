package app

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/schedule"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestScheduleFiringMemberKilled is issue 21's "no schedule run is lost or
// doubled across the kill": three granary processes on a real Consul, a
// schedule of every second (overlap allow) fired by one of them; that
// member is killed with SIGKILL mid-stream. A survivor takes the schedule
// over and catches up the slots that passed while no member fired it:
// every slot from the first run to the last has exactly one run (its id
// derives from the slot), and every run completes, committed once.
func TestScheduleFiringMemberKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := startCluster(t, 3, agent.HTTPAddr(), nil)
	ctx := testutil.Context(t, 3*time.Minute)
	c := nodes[0].Client()
	if _, err := c.PutSchedule(ctx, "tick", api.ScheduleSpec{Cron: "@every 1s", Overlap: "allow",
		Task: api.SubmitRequest{Kind: "echo", Payload: json.RawMessage(`{"tick":true}`)}}); err != nil {
		t.Fatal(err)
	}
	var s *api.Schedule
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		var err error
		s, err = c.Schedule(ctx, "tick")
		return err == nil && s.Runs >= 3, fmt.Sprintf("schedule: %+v, %v", s, err)
	})
	var victim *testnode.Node
	var survivors []*testnode.Node
	for _, n := range nodes {
		if n.ID == s.FiredBy {
			victim = n
		} else {
			survivors = append(survivors, n)
		}
	}
	if victim == nil {
		t.Fatalf("fired by %q, not a node of the cluster", s.FiredBy)
	}
	victim.Kill()
	killedAt, runsAtKill := time.Now(), s.Runs
	t.Logf("killed %s, the schedule's firing member, after %d runs", victim.ID, runsAtKill)

	sc := survivors[0].Client()
	testutil.Eventually(t, 2*time.Minute, func() (bool, string) {
		var err error
		s, err = sc.Schedule(ctx, "tick")
		return err == nil && s.FiredBy != victim.ID && s.Runs >= runsAtKill+5 && s.FiredAt.After(killedAt),
			fmt.Sprintf("schedule: %+v, %v", s, err)
	})
	t.Logf("%s fires it now; %d runs, %d missed", s.FiredBy, s.Runs, s.Missed)
	if _, err := sc.PauseSchedule(ctx, "tick"); err != nil {
		t.Fatal(err)
	}
	checkRunsOnce(t, sc, "tick")
}

// checkRunsOnce checks that a schedule of every second has one run per
// slot from its first to its last, none missing, none twice, each
// completed (runs the killed member owned are adopted by survivors).
func checkRunsOnce(t *testing.T, c *client.Client, id string) {
	t.Helper()
	ctx := testutil.Context(t, 2*time.Minute)
	var runs []*api.Status
	testutil.Eventually(t, time.Minute, func() (bool, string) {
		var err error
		runs, err = c.ListAll(ctx, client.ListOptions{Labels: map[string]string{schedule.LabelSchedule: id}})
		if err != nil {
			return false, err.Error()
		}
		for _, r := range runs {
			if r.State != api.StateCompleted {
				return false, fmt.Sprintf("run %s is %s", r.ID, r.State)
			}
		}
		return true, ""
	})
	s, err := c.Schedule(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(runs, func(a, b *api.Status) int { return a.ScheduleSlot.Compare(*b.ScheduleSlot) })
	seen := map[string]bool{}
	for i, r := range runs {
		if r.ScheduleSlot == nil || r.ID != schedule.RunID(id, *r.ScheduleSlot) {
			t.Fatalf("run %s (slot %v): its id is not its slot's", r.ID, r.ScheduleSlot)
		}
		if seen[r.ID] {
			t.Fatalf("run %s twice", r.ID)
		}
		seen[r.ID] = true
		if i > 0 && !r.ScheduleSlot.Equal(runs[i-1].ScheduleSlot.Add(time.Second)) {
			t.Fatalf("runs of %v then %v: %s slots lost", runs[i-1].ScheduleSlot, r.ScheduleSlot, r.ScheduleSlot.Sub(*runs[i-1].ScheduleSlot)-time.Second)
		}
	}
	if int64(len(runs)) != s.Runs || s.Missed != 0 {
		t.Fatalf("%d runs stored; the schedule counts %d runs, %d missed", len(runs), s.Runs, s.Missed)
	}
	t.Logf("%d runs, one per slot from %v to %v, each completed", len(runs), runs[0].ScheduleSlot, runs[len(runs)-1].ScheduleSlot)
}
