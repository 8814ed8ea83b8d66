package reconciler_test

import (
	"fmt"
	"testing"

	"github.com/granary-rt/granary/cluster/placement"
	"github.com/granary-rt/granary/cluster/reconciler"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
)

func rec(id, kind, owner string, st messages.TaskState) store.Record {
	return store.Record{Task: &messages.Task{
		Spec:   &messages.TaskSpec{Id: id, Kind: kind},
		Status: &messages.TaskStatus{Owner: owner, State: st},
	}}
}

func TestPlanSplitsOrphansAmongSurvivors(t *testing.T) {
	live := placement.TaskMembers([]placement.Member{
		{ID: "a", Kinds: []string{"echo", "pi"}},
		{ID: "b", Kinds: []string{"echo"}},
		{ID: "c", Kinds: []string{"echo"}},
	})
	var orphans []store.Record
	for i := 0; i < 300; i++ {
		orphans = append(orphans, rec(fmt.Sprintf("e%d", i), "echo", "dead", messages.TaskState_TASK_STATE_RUNNING))
	}
	orphans = append(orphans,
		rec("pi-1", "pi", "dead", messages.TaskState_TASK_STATE_PENDING),
		rec("done", "echo", "dead", messages.TaskState_TASK_STATE_COMPLETED),
		rec("alive", "echo", "b", messages.TaskState_TASK_STATE_RUNNING))
	seen := map[string]string{}
	for _, m := range []string{"a", "b", "c"} {
		for _, id := range reconciler.Plan(m, live, orphans) {
			if prev, dup := seen[id]; dup {
				t.Fatalf("%s adopted by both %s and %s", id, prev, m)
			}
			seen[id] = m
		}
	}
	if len(seen) != 301 {
		t.Fatalf("%d tasks adopted, want the 300 running echo tasks and the pending pi task", len(seen))
	}
	if seen["pi-1"] != "a" {
		t.Fatalf("pi task adopted by %s; only a hosts pi", seen["pi-1"])
	}
	if _, ok := seen["done"]; ok {
		t.Fatal("a finished task was adopted")
	}
	if _, ok := seen["alive"]; ok {
		t.Fatal("a task whose owner is alive was taken from it")
	}
	share := map[string]int{}
	for _, m := range seen {
		share[m]++
	}
	for _, m := range []string{"a", "b", "c"} {
		if share[m] < 60 {
			t.Fatalf("shares %v: every survivor should take part of the load", share)
		}
	}
}
