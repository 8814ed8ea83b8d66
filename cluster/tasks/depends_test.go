package tasks_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
)

// gates holds the gates gated tasks wait at, by name.
var gates sync.Map // name -> chan struct{}

func gate(name string) chan struct{} {
	g, _ := gates.LoadOrStore(name, make(chan struct{}))
	return g.(chan struct{})
}

type gatedIn struct {
	Gate string `json:"gate"`
	V    int    `json:"v"`
}

// registerDepends adds the kinds of the dependency tests: gated (returns
// v once its gate opens) and depsum (the sum of its dependencies' int
// results).
func registerDepends(t *testing.T, reg *actors.Registry) {
	t.Helper()
	gated := actors.MustTask("gated", func(ctx actors.TaskContext, in gatedIn) (int, error) {
		select {
		case <-gate(in.Gate):
			return in.V, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	depsum := actors.MustTask("depsum", func(ctx actors.TaskContext, _ struct{}) (int, error) {
		sum := 0
		for _, d := range actors.Dependencies(ctx) {
			v, err := actors.DependencyResultAs[int](ctx, d)
			if err != nil {
				return 0, actors.Permanent(err)
			}
			sum += v
		}
		if _, err := actors.DependencyResult(ctx, "stranger"); !errors.Is(err, actors.ErrNotDependency) {
			return 0, actors.Permanentf("a task that is not a dependency answered: %v", err)
		}
		return sum, nil
	})
	for _, k := range []*actors.TaskKind{gated, depsum} {
		if err := reg.RegisterTask(k); err != nil {
			t.Fatal(err)
		}
	}
}

// waiting waits until task id records that it waits for dependencies.
func (h *harness) waiting(id string) *messages.Task {
	h.t.Helper()
	var task *messages.Task
	testutil.Eventually(h.t, 10*time.Second, func() (bool, string) {
		task = h.get(id)
		st := task.GetStatus()
		return st.GetState() == pending && strings.HasPrefix(st.GetWaiting(), "waiting for dependencies"), fmt.Sprintf("%s: %v", id, st)
	})
	return task
}

// TestDependsOnWaitsForItsDependencies: b waits, pending and saying so,
// until a and c completed; then it runs once, with their results at hand.
func TestDependsOnWaitsForItsDependencies(t *testing.T) {
	h := newHarness(t, "")
	h.submitSub(tasks.Submission{ID: "d-a", Kind: "gated", Payload: []byte(`{"gate":"d-a","v":3}`)})
	h.submitSub(tasks.Submission{ID: "d-c", Kind: "gated", Payload: []byte(`{"gate":"d-c","v":4}`)})
	h.submitSub(tasks.Submission{ID: "d-b", Kind: "depsum", DependsOn: []string{"d-a", "d-c"}})
	if got := h.waiting("d-b").GetSpec().GetDependsOn(); fmt.Sprint(got) != "[d-a d-c]" {
		t.Fatalf("stored dependencies %v", got)
	}
	close(gate("d-a"))
	h.await("d-a")
	h.waiting("d-b") // c still runs
	if n := h.attempts("d-b"); n != 0 {
		t.Fatalf("d-b ran %d attempts before its dependencies completed", n)
	}
	close(gate("d-c"))
	st := h.await("d-b").GetStatus()
	if st.GetState() != completed || string(st.GetResult()) != "7" || h.attempts("d-b") != 1 || st.GetWaiting() != "" {
		t.Fatalf("d-b %s after %d attempts, result %s, waiting %q (%s); want completed once with 7", st.GetState(), h.attempts("d-b"), st.GetResult(), st.GetWaiting(), st.GetError())
	}
}

// TestDependsOnCancelledByAFailedDependency: a dependency that fails for
// good cancels the task waiting for it, with that cause.
func TestDependsOnCancelledByAFailedDependency(t *testing.T) {
	h := newHarness(t, "")
	h.submitSub(tasks.Submission{ID: "f-a", Kind: "gated", Payload: []byte(`{"gate":"f-a"}`)})
	h.submitSub(tasks.Submission{ID: "f-b", Kind: "depsum", DependsOn: []string{"f-a"}})
	h.waiting("f-b")
	if _, err := h.m.Cancel(testutil.Context(t, 5*time.Second), "f-a", "not needed"); err != nil {
		t.Fatal(err)
	}
	st := h.await("f-b").GetStatus()
	if st.GetState() != messages.TaskState_TASK_STATE_CANCELLED || !strings.Contains(st.GetError(), "dependency f-a cancelled: not needed") || h.attempts("f-b") != 0 {
		t.Fatalf("f-b %s (%q) after %d attempts; want cancelled for its dependency, never run", st.GetState(), st.GetError(), h.attempts("f-b"))
	}
}

// TestDependsOnAJobStage: job:<id>/stage:<n> names the stage's tasks.
func TestDependsOnAJobStage(t *testing.T) {
	h := newHarness(t, "")
	for i, v := range []int{5, 6} {
		h.submitSub(tasks.Submission{ID: fmt.Sprintf("s-%d", i), Kind: "gated", Payload: []byte(fmt.Sprintf(`{"gate":"s","v":%d}`, v)), JobID: "pipe"})
	}
	h.submitSub(tasks.Submission{ID: "s-next", Kind: "depsum", DependsOn: []string{tasks.StageDependency("pipe", 0)}})
	if got := h.waiting("s-next").GetSpec().GetDependsOn(); fmt.Sprint(got) != "[s-0 s-1]" {
		t.Fatalf("the stage was stored as %v; want its tasks [s-0 s-1]", got)
	}
	close(gate("s"))
	if st := h.await("s-next").GetStatus(); st.GetState() != completed || string(st.GetResult()) != "11" {
		t.Fatalf("s-next %s, result %s (%s); want completed with 11", st.GetState(), st.GetResult(), st.GetError())
	}
}

// TestDependsOnRefusesBadInput: unknown tasks, stages without tasks, the
// task itself, too many: 400 (invalid argument), and nothing is stored.
func TestDependsOnRefusesBadInput(t *testing.T) {
	h := newHarness(t, "")
	h.submitSub(tasks.Submission{ID: "x-a", Kind: "ok", Payload: []byte(`1`)})
	many := make([]string, tasks.MaxDependencies+1)
	for i := range many {
		many[i] = "x-a"
	}
	for _, c := range []struct {
		name, id string
		deps     []string
		says     string
	}{
		{"unknown", "x-1", []string{"x-a", "ghost"}, "ghost does not exist"},
		{"self", "x-a2", []string{"x-a", "x-a"}, "named twice"},
		{"stage of no job", "x-2", []string{"job:nojob/stage:0"}, "no task in stage 0"},
		{"bad stage", "x-3", []string{"job:j/stage:-1"}, "want job:<id>/stage:<n>"},
		{"bad spelling", "x-4", []string{"a/b"}, "neither a task id nor a job stage"},
		{"too many", "x-5", many, "the limit is 100"},
	} {
		_, _, err := h.m.Submit(testutil.Context(t, 5*time.Second), tasks.Submission{ID: c.id, Kind: "depsum", DependsOn: c.deps})
		if !errors.Is(err, api.ErrInvalidArgument) || !strings.Contains(err.Error(), c.says) {
			t.Fatalf("%s: %v; want invalid argument saying %q", c.name, err, c.says)
		}
		if _, err := h.store.Get(testutil.Context(t, 5*time.Second), c.id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: the refused task was stored (%v)", c.name, err)
		}
	}
	if _, err := tasks.BuildTask(testKinds(t), tasks.Submission{ID: "me", Kind: "depsum", DependsOn: []string{"me"}}, "m1", time.Now()); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("a task depending on itself: %v; want invalid argument", err)
	}
}

// TestDependsOnWaitSurvivesRestart: the wait is durable: a member stopped
// while b waits for a resumes both, and b runs once a completes.
func TestDependsOnWaitSurvivesRestart(t *testing.T) {
	h := newHarness(t, "")
	h.submitSub(tasks.Submission{ID: "r-a", Kind: "gated", Payload: []byte(`{"gate":"r-a","v":2}`)})
	h.submitSub(tasks.Submission{ID: "r-b", Kind: "depsum", DependsOn: []string{"r-a"}})
	h.waiting("r-b")
	h.close()

	h2 := newHarness(t, h.path)
	h2.waiting("r-b")
	close(gate("r-a"))
	if st := h2.await("r-b").GetStatus(); st.GetState() != completed || string(st.GetResult()) != "2" || h2.attempts("r-b") != 1 {
		t.Fatalf("r-b %s after %d attempts here, result %s (%s); want completed once with 2", st.GetState(), h2.attempts("r-b"), st.GetResult(), st.GetError())
	}
}
