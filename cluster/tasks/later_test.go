package tasks_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
)

// TestSubmitLaterWaitsForItsTime: a task submitted to start later is
// stored at once, pending with its start time, runs no attempt before it,
// and completes after it; its deadline counts from the start.
func TestSubmitLaterWaitsForItsTime(t *testing.T) {
	h := newHarness(t, "")
	start := time.Now().Add(700 * time.Millisecond)
	ctx := testutil.Context(t, 10*time.Second)
	rec, created, err := h.m.Submit(ctx, tasks.Submission{ID: "later", Kind: "ok", Payload: []byte(`1`), StartAt: start,
		Overrides: actors.Overrides{ScheduleToClose: ptr(time.Minute)}})
	if err != nil || !created {
		t.Fatalf("Submit = %v, %v", created, err)
	}
	st := rec.Task.GetStatus()
	if st.GetState() != messages.TaskState_TASK_STATE_PENDING || st.GetAttempts() != 0 || !st.GetNextAttemptAt().AsTime().Equal(start) {
		t.Fatalf("stored as %s, %d attempts, next %v; want pending, 0, %v", st.GetState(), st.GetAttempts(), st.GetNextAttemptAt().AsTime(), start)
	}
	if !st.GetDeadline().AsTime().Equal(start.Add(time.Minute)) {
		t.Fatalf("deadline %v, want the start plus a minute, %v", st.GetDeadline().AsTime(), start.Add(time.Minute))
	}
	if s := api.FromTask(rec.Task, rec.Revision); s.Waiting == "" || s.StartAt == nil {
		t.Fatalf("status says waiting %q, start_at %v; want why it waits and when it starts", s.Waiting, s.StartAt)
	}
	// Submitted again (a retry, its --after computed anew): the same task.
	if _, again, err := h.m.Submit(ctx, tasks.Submission{ID: "later", Kind: "ok", Payload: []byte(`1`), StartAt: start.Add(time.Second)}); err != nil || again {
		t.Fatalf("Submit again = created %v, %v; want the stored task", again, err)
	}
	task := h.await("later")
	if got := task.GetStatus().GetStartedAt().AsTime(); got.Before(start) {
		t.Fatalf("started at %v, before its start time %v", got, start)
	}
	if task.GetStatus().GetState() != messages.TaskState_TASK_STATE_COMPLETED {
		t.Fatalf("state %s, want completed", task.GetStatus().GetState())
	}
}

// TestSubmitLaterSurvivesARestart: the start time is durable: a member
// restarted before it resumes the task and runs it then, once.
func TestSubmitLaterSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	h := newHarness(t, path)
	start := time.Now().Add(time.Second)
	if _, _, err := h.m.Submit(testutil.Context(t, 10*time.Second), tasks.Submission{ID: "later", Kind: "ok", Payload: []byte(`1`), StartAt: start}); err != nil {
		t.Fatal(err)
	}
	h.close()
	h2 := newHarness(t, path)
	task := h2.await("later")
	if st := task.GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_COMPLETED || st.GetAttempts() != 1 || st.GetStartedAt().AsTime().Before(start) {
		t.Fatalf("after restart: %s, %d attempts, started %v; want completed once, after %v", st.GetState(), st.GetAttempts(), st.GetStartedAt().AsTime(), start)
	}
}

// TestSubmitLaterBadTimes: a start time too far back or too far ahead is
// refused and stores nothing; one a little in the past starts at once.
func TestSubmitLaterBadTimes(t *testing.T) {
	h := newHarness(t, "")
	ctx := testutil.Context(t, 10*time.Second)
	now := time.Now()
	for name, at := range map[string]time.Time{
		"two hours ago":     now.Add(-2 * time.Hour),
		"two years ahead":   now.Add(2 * 365 * 24 * time.Hour),
		"just past the cap": now.Add(tasks.MaxStartDelay + time.Minute),
	} {
		_, _, err := h.m.Submit(ctx, tasks.Submission{ID: "bad", Kind: "ok", Payload: []byte(`1`), StartAt: at})
		if !errors.Is(err, api.ErrInvalidArgument) {
			t.Errorf("%s: Submit = %v, want ErrInvalidArgument", name, err)
		}
	}
	if _, err := h.m.Get(ctx, "bad"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a refused submit stored a task: %v", err)
	}
	rec, _, err := h.m.Submit(ctx, tasks.Submission{ID: "recent", Kind: "ok", Payload: []byte(`1`), StartAt: now.Add(-time.Minute)})
	if err != nil {
		t.Fatalf("a start a minute ago = %v, want taken", err)
	}
	if task := h.await(rec.Task.GetSpec().GetId()); task.GetStatus().GetState() != messages.TaskState_TASK_STATE_COMPLETED {
		t.Fatalf("state %s, want completed", task.GetStatus().GetState())
	}
}

// TestCheckTaskKeepsStartAndSchedule: a task handed to its owner (built on
// another member, checked there) keeps its start time and its schedule.
func TestCheckTaskKeepsStartAndSchedule(t *testing.T) {
	reg := testKinds(t)
	now := time.Now()
	sub := tasks.Submission{ID: "run-1", Kind: "ok", Payload: []byte(`1`), StartAt: now.Add(time.Hour), ScheduleID: "nightly", ScheduleSlot: now.Truncate(time.Second)}
	built, err := tasks.BuildTask(reg, sub, "m2", now)
	if err != nil {
		t.Fatal(err)
	}
	checked, err := tasks.CheckTask(reg, built, "m2")
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(checked, built) {
		t.Fatalf("checked task differs from the one built:\n%v\n%v", checked, built)
	}
}
