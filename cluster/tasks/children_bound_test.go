package tasks

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/granary-rt/granary/actors"
)

// TestSpawnedSetBound: an attempt's distinct children are counted; past
// the bound a new one is actors.ErrTooManyChildren, and spawning one it
// has already spawned again still works.
func TestSpawnedSetBound(t *testing.T) {
	var s spawnedSet
	for i := range 3 {
		if err := s.add(fmt.Sprintf("p:c-%d", i), 3); err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
	}
	if err := s.add("p:c-3", 3); !errors.Is(err, actors.ErrTooManyChildren) {
		t.Fatalf("a fourth child of three allowed: %v; want ErrTooManyChildren", err)
	}
	if err := s.add("p:c-1", 3); err != nil {
		t.Fatalf("spawning a child again: %v", err)
	}
}

// TestChildSubmission: a child's submission names its derived id, its
// parent's child job and the parent label; bad names and ids too long are
// actors.ErrInvalidChild.
func TestChildSubmission(t *testing.T) {
	sub, err := childSubmission("p", "c-1", "k", []byte(`1`), actors.ChildOptions{Strategy: "one_for_all", Labels: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if sub.ID != "p:c-1" || sub.JobID != "p:children" || sub.JobStrategy != "one_for_all" || sub.Labels[ParentLabel] != "p" || sub.Labels["a"] != "b" {
		t.Fatalf("submission %+v", sub)
	}
	for _, c := range []struct{ parent, name string }{
		{"p", ""}, {"p", "a:b"}, {"p", "-a"}, {"p", strings.Repeat("n", actors.MaxChildNameBytes+1)}, {strings.Repeat("p", 120), "c"},
	} {
		if _, err := childSubmission(c.parent, c.name, "k", nil, actors.ChildOptions{}); !errors.Is(err, actors.ErrInvalidChild) {
			t.Errorf("parent %.10s… child %.10q: %v; want ErrInvalidChild", c.parent, c.name, err)
		}
	}
}
