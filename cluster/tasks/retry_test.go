package tasks_test

import (
	"errors"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
)

// TestRetryDeadLetter: a task that failed for good (3 attempts of a
// handler that succeeds on its 5th) is sent round again with a fresh
// budget: it completes on attempt 5, its history kept and the retry
// counted; the same retry asked again (same request id) changes nothing,
// and a completed task cannot be retried (old code: restart answered
// "already failed", and nothing retried).
func TestRetryDeadLetter(t *testing.T) {
	h := newHarness(t, "")
	ctx := testutil.Context(t, 30*time.Second)
	id := h.submit("flaky", `{"succeed_on":5}`, actors.Overrides{})
	if st := h.await(id).GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_FAILED || st.GetAttempts() != 3 {
		t.Fatalf("before the retry: %s after %d attempts", st.GetState(), st.GetAttempts())
	}
	if _, err := h.m.Restart(ctx, id, "", ""); !errors.Is(err, api.ErrFailedPrecondition) {
		t.Fatalf("Restart of a failed task = %v; restart keeps its meaning", err)
	}
	if _, err := h.m.Retry(ctx, id, "the bug is fixed", "r-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Retry(ctx, id, "asked again", "r-1"); err != nil {
		t.Fatalf("the same retry asked again: %v", err)
	}
	st := h.await(id).GetStatus()
	if st.GetState() != messages.TaskState_TASK_STATE_COMPLETED || st.GetAttempts() != 5 || len(st.GetErrors()) != 4 || st.GetRetries() != 1 || st.GetRetriedAt() == nil {
		t.Fatalf("after the retry: %s after %d attempts, %d errors kept, %d retries", st.GetState(), st.GetAttempts(), len(st.GetErrors()), st.GetRetries())
	}
	if _, err := h.m.Retry(ctx, id, "", "r-2"); !errors.Is(err, api.ErrFailedPrecondition) {
		t.Fatalf("Retry of a completed task = %v, want ErrFailedPrecondition", err)
	}
	if _, err := h.m.Retry(ctx, "no-such-task", "", ""); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("Retry of an unknown task = %v, want ErrNotFound", err)
	}
}

// TestRetryManyByKind: of two failed kinds, only the tasks of the one
// named are retried; a dry run counts them and changes nothing.
func TestRetryManyByKind(t *testing.T) {
	h := newHarness(t, "")
	ctx := testutil.Context(t, 30*time.Second)
	var flaky []string
	for range 3 {
		flaky = append(flaky, h.submit("flaky", `{"succeed_on":4}`, actors.Overrides{}))
	}
	perm := h.submit("perm", ``, actors.Overrides{})
	for _, id := range append(flaky, perm) {
		h.await(id)
	}
	f := tasks.RetryFilter{Filter: store.Filter{Kind: "flaky"}, FailedSince: time.Now().Add(-time.Hour)}
	ids, failed, more, err := h.m.RetryMany(ctx, f, "", true)
	if err != nil || len(ids) != 3 || len(failed) != 0 || more {
		t.Fatalf("dry run: %v, %v, more %v, %v", ids, failed, more, err)
	}
	if st := h.get(flaky[0]).GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_FAILED || st.GetRetries() != 0 {
		t.Fatalf("a dry run changed %s: %s, %d retries", flaky[0], st.GetState(), st.GetRetries())
	}
	if ids, failed, _, err = h.m.RetryMany(ctx, f, "fixed", false); err != nil || len(ids) != 3 || len(failed) != 0 {
		t.Fatalf("retry: %v, %v, %v", ids, failed, err)
	}
	for _, id := range flaky {
		if st := h.await(id).GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_COMPLETED || st.GetRetries() != 1 {
			t.Fatalf("%s after the retry: %s, %d retries", id, st.GetState(), st.GetRetries())
		}
	}
	if st := h.get(perm).GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_FAILED || st.GetRetries() != 0 {
		t.Fatalf("perm, of another kind, was retried: %s, %d retries", st.GetState(), st.GetRetries())
	}
	if _, _, _, err := h.m.RetryMany(ctx, tasks.RetryFilter{Filter: store.Filter{States: []messages.TaskState{messages.TaskState_TASK_STATE_COMPLETED}}}, "", true); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("retrying completed tasks by filter = %v, want ErrInvalidArgument", err)
	}
}
