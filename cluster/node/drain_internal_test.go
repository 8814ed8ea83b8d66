package node

import (
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/membership"
	"github.com/granary-rt/granary/cluster/placement"
)

// TestPlaceableSkipsDraining: a draining member stays in the view (its
// work is not orphaned: the reconciler sees it alive) but hosts nothing
// for placement, so no new task lands on it.
func TestPlaceableSkipsDraining(t *testing.T) {
	v := membership.View{Version: 3, Members: []membership.Member{
		{ID: "n1", Kinds: []string{"sleep"}},
		{ID: "n2", Kinds: []string{"sleep"}, Draining: true},
	}}
	ms := toPlacement(placeable(v))
	if len(ms) != 2 || len(ms[1].Kinds) != 0 || len(v.Members[1].Kinds) != 1 {
		t.Fatalf("placeable view %+v (input now %+v); want n2 present with no kinds, input untouched", ms, v.Members)
	}
	for i := range 50 {
		if owner, _ := placement.TaskOwner(ms, "sleep", string(rune('a'+i))); owner != "n1" {
			t.Fatalf("a new task placed on %s while n2 drains", owner)
		}
	}
}

// TestLeaveReserve: the part of DrainTimeout kept for leaving is a fifth,
// at most 3s.
func TestLeaveReserve(t *testing.T) {
	for drain, want := range map[time.Duration]time.Duration{
		30 * time.Second:        3 * time.Second,
		5 * time.Second:         time.Second,
		1500 * time.Millisecond: 300 * time.Millisecond,
	} {
		if got := leaveReserve(drain); got != want {
			t.Errorf("leaveReserve(%s) = %s, want %s", drain, got, want)
		}
	}
}
