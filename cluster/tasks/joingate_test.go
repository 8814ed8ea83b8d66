package tasks_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
)

// storeJoiner stores a task straight into the store (as a submit whose
// read of the job came before the job's end does: the job has not heard
// of it) and starts its actor.
func (h *harness) storeJoiner(sub tasks.Submission) {
	h.t.Helper()
	task, err := tasks.BuildTask(testKinds(h.t), sub, "m1", time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	if _, created, err := h.store.Create(context.Background(), task); err != nil || !created {
		h.t.Fatalf("storing %s: created %v, %v", sub.ID, created, err)
	}
	h.m.Activate(sub.ID, false)
}

// TestTaskStoredAfterItsJobStoppedNeverRuns: the join gate. A task of a
// job that had stopped when the task was stored (its submit read the job
// just before) is cancelled without running: the chaos campaign saw such
// a task run and commit after its job had ended (issue #20). Old code: it
// runs.
func TestTaskStoredAfterItsJobStoppedNeverRuns(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	h := newHarness(t, "")
	h.submitSub(tasks.Submission{ID: "gated-first", Kind: "slow", JobID: "gated"})
	h.running("gated-first")
	if _, err := h.m.StopJob(ctx, "gated", "test"); err != nil {
		t.Fatal(err)
	}
	h.storeJoiner(tasks.Submission{ID: "gated-late", Kind: "slow", JobID: "gated"})
	got := h.await("gated-late")
	if st := got.GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_CANCELLED || !strings.Contains(st.GetError(), "job gated had stopped when this task joined it") {
		t.Fatalf("the task stored after its job stopped is %v (%q), want cancelled by the join gate", st.GetState(), st.GetError())
	}
	if n := h.attempts("gated-late"); n != 0 {
		t.Fatalf("the task of a stopped job ran %d attempts", n)
	}
}

// shutdownHook runs hook once, armed, as the supervisor of job writes its
// decision to shut down, before the write: the job's children as it knows
// them are fixed, and its record still says it runs.
type shutdownHook struct {
	store.Store
	job   string
	armed atomic.Bool
	hook  func()
}

func (s *shutdownHook) PutJob(ctx context.Context, j *messages.Job, rev uint64) (store.JobRecord, error) {
	if j.GetId() == s.job && j.GetRun().GetPhase() == "shutting_down" && s.armed.CompareAndSwap(true, false) {
		s.hook()
	}
	return s.Store.PutJob(ctx, j, rev)
}

// TestJobStopSweepsAChildItNeverHeardOf: a task joins a job after the
// job's supervisor decided to stop and before that decision was
// recorded: it passes its join gate (the job runs), and the job has not
// heard of it. The stop's sweep finds it and terminates it before the job
// ends. Old code: the job ended stopped with the task running on.
func TestJobStopSweepsAChildItNeverHeardOf(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	var ls *shutdownHook
	h := newHarnessWith(t, "", func(s store.Store) store.Store {
		ls = &shutdownHook{Store: s, job: "swept"}
		return ls
	})
	h.submitSub(tasks.Submission{ID: "swept-first", Kind: "slow", JobID: "swept"})
	h.running("swept-first")
	ls.hook = func() {
		h.storeJoiner(tasks.Submission{ID: "swept-stray", Kind: "slow", JobID: "swept", JobStage: 1})
		testutil.Eventually(t, 10*time.Second, func() (bool, string) {
			return h.attempts("swept-stray") == 1, "the stray's attempt has not started"
		})
	}
	ls.armed.Store(true)
	jr, err := h.m.StopJob(ctx, "swept", "test")
	if err != nil {
		t.Fatal(err)
	}
	if end := jr.Job.GetRun().GetEnd(); end != "stopped" {
		t.Fatalf("the job ended %q, want stopped", end)
	}
	if ls.armed.Load() {
		t.Fatal("the hook never ran: the stop was not recorded")
	}
	if st := h.get("swept-stray").GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_CANCELLED {
		t.Fatalf("the job ended stopped with its stray child %v (%q), want it cancelled first", st.GetState(), st.GetError())
	}
}

// TestParentStopSweepsAChildJobRunningAgain: a child job that completed
// runs again when a task joins it, and its parent still takes it for
// completed. The parent's stop must stop it too (the chaos campaign saw
// the task of such a child job run on after its root job had stopped).
// Old code: the parent ended stopped with the task running.
func TestParentStopSweepsAChildJobRunningAgain(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	h := newHarness(t, "")
	for _, d := range []tasks.JobDeclaration{{ID: "root"}, {ID: "root-kid", Parent: "root", Stage: 1}} {
		if _, _, err := h.m.DeclareJob(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	h.submitSub(tasks.Submission{ID: "root-long", Kind: "slow", JobID: "root"})
	h.running("root-long")
	h.submitSub(tasks.Submission{ID: "kid-first", Kind: "ok", JobID: "root-kid"})
	h.await("kid-first")
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		jr, err := h.store.GetJob(ctx, "root")
		if err != nil {
			return false, err.Error()
		}
		for _, c := range jr.Job.GetRun().GetChildren() {
			if c.GetId() == "root-kid" && c.GetStatus() == "completed" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("the root does not take its child job for completed: %v", jr.Job.GetRun().GetChildren())
	})
	h.submitSub(tasks.Submission{ID: "kid-again", Kind: "slow", JobID: "root-kid"})
	h.running("kid-again")
	jr, err := h.m.StopJob(ctx, "root", "test")
	if err != nil {
		t.Fatal(err)
	}
	if end := jr.Job.GetRun().GetEnd(); end != "stopped" {
		t.Fatalf("the root ended %q, want stopped", end)
	}
	if st := h.get("kid-again").GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_CANCELLED {
		t.Fatalf("the root ended stopped with its child job's task %v, want it cancelled first", st.GetState())
	}
}
