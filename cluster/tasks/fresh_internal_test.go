package tasks

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestWrongFreshHintRunsTheHandlerOnce: the price of a wrong hint, stated.
// A submit marked fresh for a finished task stored here, with no actor of
// it left, runs the handler once (its attempt starts ahead of the write,
// as for a new task); the write finds the task, the attempt's result is
// dropped, and the stored task answers, unchanged. That is why a client
// sends the hint only on the first send of an id it made.
func TestWrongFreshHintRunsTheHandlerOnce(t *testing.T) {
	var runs atomic.Int32
	ok, err := actors.NewTask("ok", func(_ actors.TaskContext, p []byte) ([]byte, error) {
		runs.Add(1)
		return p, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m := startIdleManager(t, nil, ok)
	ctx := testutil.Context(t, 10*time.Second)
	first, _, err := m.Submit(ctx, Submission{ID: "w1", Kind: "ok", Payload: []byte(`7`)})
	if err != nil || first.Task.GetStatus().GetState() != completed {
		t.Fatalf("Submit = %v, %v; want completed", first.Task.GetStatus(), err)
	}
	waitCounts(t, m, idleCounts{}, 10*time.Second) // its actor is gone
	again, created, err := m.Submit(ctx, Submission{ID: "w1", Kind: "ok", Payload: []byte(`7`), Fresh: true})
	if err != nil || created || again.Revision != first.Revision || string(again.Task.GetStatus().GetResult()) != "7" {
		t.Fatalf("wrongly fresh submit = created %v at revision %d, %v; want the stored task at %d", created, again.Revision, err, first.Revision)
	}
	if n := runs.Load(); n != 2 {
		t.Fatalf("the handler ran %d times; want twice: the task, and the wrongly fresh submit's dropped attempt", n)
	}
	waitCounts(t, m, idleCounts{}, 10*time.Second)
	if _, _, err := m.Submit(ctx, Submission{ID: "w1", Kind: "ok", Payload: []byte(`8`), Fresh: true}); !errors.Is(err, api.ErrAlreadyExists) {
		t.Fatalf("another request under the id, marked fresh: %v, want ErrAlreadyExists", err)
	}
	stored, err := m.Get(ctx, "w1")
	if err != nil || stored.Revision != first.Revision || stored.Task.GetStatus().GetAttempts() != 1 {
		t.Fatalf("stored %v at %d, %v; want the first task unchanged at %d", stored.Task.GetStatus(), stored.Revision, err, first.Revision)
	}
}

// TestWrongFreshHintForAParkedTask: marked fresh, a submit of a task that
// waits parked here (no actor) runs nothing and answers the stored task;
// the task stays parked, its wake-up armed. Had the unstored activation
// been taken like any other, it would have unparked the task (cancelling
// its wake-up), run the attempt, lost the write and left the task with
// neither actor nor wake-up.
func TestWrongFreshHintForAParkedTask(t *testing.T) {
	var started atomic.Int32
	m := startIdleManagerWith(t, nil, func(cfg *Config) {
		cfg.Events.AttemptStarted = func(string, int) { started.Add(1) }
	}, laterKind(t, time.Hour))
	submitMany(t, m, "p", "later", 1)
	waitCounts(t, m, idleCounts{actors: 0, parked: 1, wakes: 1}, 30*time.Second)
	ctx := testutil.Context(t, 10*time.Second)
	rec, created, err := m.Submit(ctx, Submission{ID: "p-0", Kind: "later", Fresh: true})
	if err != nil || created || rec.Task.GetStatus().GetState() != retrying {
		t.Fatalf("wrongly fresh submit = %v, created %v, %v; want the stored task, retrying", rec.Task.GetStatus(), created, err)
	}
	if n := started.Load(); n != 1 {
		t.Fatalf("%d attempts started; want only the task's first", n)
	}
	waitCounts(t, m, idleCounts{actors: 0, parked: 1, wakes: 1}, 10*time.Second)
}
