package tasks_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
)

// fanoutIn scripts a parent: it spawns N children of ChildKind (child i
// with payload {"x": i}), then fails its attempts listed in FailOn (after
// spawning, before awaiting), awaits the rest and returns the sum of
// their results.
type fanoutIn struct {
	N         int    `json:"n"`
	ChildKind string `json:"child_kind"`
	FailOn    []int  `json:"fail_on"`
	Name      string `json:"name"` // a child's name instead of c-<i>, for the bad-name case
}

type squareIn struct {
	X int `json:"x"`
}

// registerFanout adds the kinds of the child-task tests: fanout (a
// parent) and square (a child).
func registerFanout(t *testing.T, reg *actors.Registry) {
	t.Helper()
	fanout := actors.MustTask("fanout", func(ctx actors.TaskContext, in fanoutIn) (int, error) {
		children := make([]actors.Child, in.N)
		for i := range children {
			name := fmt.Sprintf("c-%d", i)
			if in.Name != "" {
				name = in.Name
			}
			c, err := actors.SpawnTyped(ctx, name, in.ChildKind, squareIn{X: i}, actors.ChildOptions{})
			if err != nil {
				return 0, actors.Permanent(err)
			}
			children[i] = c
		}
		for _, n := range in.FailOn {
			if ctx.Attempt() == n {
				return 0, fmt.Errorf("attempt %d fails after spawning", n)
			}
		}
		out, err := actors.AwaitAll[int](ctx, children...)
		if err != nil {
			return 0, actors.Permanent(err)
		}
		sum := 0
		for _, v := range out {
			sum += v
		}
		return sum, nil
	}, actors.WithMaxAttempts(3), actors.WithAttemptTimeout(time.Minute))
	square := actors.MustTask("square", func(_ actors.TaskContext, in squareIn) (int, error) { return in.X * in.X, nil })
	for _, k := range []*actors.TaskKind{fanout, square} {
		if err := reg.RegisterTask(k); err != nil {
			t.Fatal(err)
		}
	}
}

// submitted submits sub (which names its id) and returns the id.
func (h *harness) submitted(sub tasks.Submission) string {
	h.t.Helper()
	h.submitSub(sub)
	return sub.ID
}

func (h *harness) attempts(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.runs[id]
}

// TestChildrenFanOutAndIn: a parent spawns 20 children and sums their
// results; its first two attempts fail after spawning, and the third finds
// the same 20 children (no duplicates, each run once) and completes.
func TestChildrenFanOutAndIn(t *testing.T) {
	h := newHarness(t, "")
	id := h.submitted(tasks.Submission{ID: "p1", Kind: "fanout", Payload: []byte(`{"n":20,"child_kind":"square","fail_on":[1,2]}`)})
	task := h.await(id)
	st := task.GetStatus()
	want := 0
	for i := range 20 {
		want += i * i
	}
	if st.GetState() != messages.TaskState_TASK_STATE_COMPLETED || string(st.GetResult()) != fmt.Sprint(want) || st.GetAttempts() != 3 {
		t.Fatalf("parent %s after %d attempts, result %s (%s); want completed after 3 with %d", st.GetState(), st.GetAttempts(), st.GetResult(), st.GetError(), want)
	}
	recs, err := h.m.Find(testutil.Context(t, 10*time.Second), store.Filter{JobID: actors.ChildJobID("p1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 20 {
		t.Fatalf("%d children in the parent's child job, want 20", len(recs))
	}
	for _, r := range recs {
		cid := r.Task.GetSpec().GetId()
		if !strings.HasPrefix(cid, "p1:c-") || r.Task.GetSpec().GetLabels()[tasks.ParentLabel] != "p1" {
			t.Fatalf("child %s labelled %v", cid, r.Task.GetSpec().GetLabels())
		}
		if n := h.attempts(cid); n != 1 || r.Task.GetStatus().GetState() != messages.TaskState_TASK_STATE_COMPLETED {
			t.Fatalf("child %s ran %d times and is %s; want once, completed", cid, n, r.Task.GetStatus().GetState())
		}
	}
}

// TestChildFailureReachesParent: a child that fails for good is an error
// of the parent's await, wrapping actors.ErrChildFailed's message.
func TestChildFailureReachesParent(t *testing.T) {
	h := newHarness(t, "")
	task := h.await(h.submitted(tasks.Submission{ID: "p2", Kind: "fanout", Payload: []byte(`{"n":2,"child_kind":"perm"}`)}))
	st := task.GetStatus()
	if st.GetState() != messages.TaskState_TASK_STATE_FAILED || !strings.Contains(st.GetError(), "child task did not complete") {
		t.Fatalf("parent %s (%s); want failed for its child", st.GetState(), st.GetError())
	}
}

// TestChildrenStoppedWithParent: cancelling a parent that awaits its
// children cancels them (its child job is stopped).
func TestChildrenStoppedWithParent(t *testing.T) {
	h := newHarness(t, "")
	id := h.submitted(tasks.Submission{ID: "p3", Kind: "fanout", Payload: []byte(`{"n":3,"child_kind":"slow"}`)})
	ctx := testutil.Context(t, 20*time.Second)
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		recs, err := h.m.Find(ctx, store.Filter{JobID: actors.ChildJobID(id)})
		running := 0
		for _, r := range recs {
			if r.Task.GetStatus().GetState() == messages.TaskState_TASK_STATE_RUNNING {
				running++
			}
		}
		return err == nil && running == 3, fmt.Sprintf("%d of 3 children running (%v)", running, err)
	})
	if _, err := h.m.Cancel(ctx, id, "enough"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		child := h.await(actors.ChildID(id, fmt.Sprintf("c-%d", i)))
		if st := child.GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_CANCELLED {
			t.Fatalf("child %d is %s (%s) after its parent's cancel; want cancelled", i, st.GetState(), st.GetError())
		}
	}
}

// TestSpawnRefusesBadChildren: a bad name or an unknown kind fails the
// parent at once with actors.ErrInvalidChild's message; nothing is stored.
func TestSpawnRefusesBadChildren(t *testing.T) {
	h := newHarness(t, "")
	for _, c := range []struct{ id, payload, says string }{
		{"p4", `{"n":1,"child_kind":"square","name":"a:b"}`, "must be letters"},
		{"p5", `{"n":1,"child_kind":"nope"}`, "unknown kind"},
		{strings.Repeat("p", 120), `{"n":1,"child_kind":"square"}`, "longer than a task id"},
	} {
		st := h.await(h.submitted(tasks.Submission{ID: c.id, Kind: "fanout", Payload: []byte(c.payload)})).GetStatus()
		if st.GetState() != messages.TaskState_TASK_STATE_FAILED || !strings.Contains(st.GetError(), "invalid child") || !strings.Contains(st.GetError(), c.says) {
			t.Fatalf("%.10s: %s (%s); want failed, saying invalid child: %s", c.id, st.GetState(), st.GetError(), c.says)
		}
		recs, err := h.m.Find(testutil.Context(t, 5*time.Second), store.Filter{Labels: map[string]string{tasks.ParentLabel: c.id}})
		if err != nil || len(recs) != 0 {
			t.Fatalf("%.10s: %d children stored (%v); want none", c.id, len(recs), err)
		}
	}
}
