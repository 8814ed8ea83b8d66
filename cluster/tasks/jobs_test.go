package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	running   = messages.TaskState_TASK_STATE_RUNNING
	retrying  = messages.TaskState_TASK_STATE_RETRYING
	pending   = messages.TaskState_TASK_STATE_PENDING
	completed = messages.TaskState_TASK_STATE_COMPLETED
	failed    = messages.TaskState_TASK_STATE_FAILED
)

func (h *harness) submitSub(sub tasks.Submission) {
	h.t.Helper()
	if _, _, err := h.m.Submit(testutil.Context(h.t, 10*time.Second), sub); err != nil {
		h.t.Fatalf("Submit(%s in job %s): %v", sub.ID, sub.JobID, err)
	}
}

func (h *harness) get(id string) *messages.Task {
	h.t.Helper()
	rec, err := h.m.Get(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return rec.Task
}

func causes(t *messages.Task) []string {
	var out []string
	for _, e := range t.GetStatus().GetErrors() {
		out = append(out, fmt.Sprintf("%d:%s", e.GetAttempt(), e.GetCause()))
	}
	return out
}

// TestJobRestartsItsTasks: a task failing for good restarts its job while
// the budget lasts: it runs again with a fresh retry budget, and the tasks
// its strategy names are stopped and run again.
func TestJobRestartsItsTasks(t *testing.T) {
	h := newHarness(t, "")
	for _, strategy := range []string{"one_for_all", "rest_for_one"} {
		t.Run(strategy, func(t *testing.T) {
			job := "jr-" + strategy
			sub := func(id, kind, payload string, stage int) tasks.Submission {
				return tasks.Submission{ID: job + "-" + id, Kind: kind, Payload: []byte(payload), JobID: job, JobStrategy: strategy, JobStage: stage, JobMaxRestarts: 1}
			}
			h.submitSub(sub("early", "slow", "", 0))
			h.submitSub(sub("later", "first_blocks", "", 2))
			h.running(job + "-early")
			h.running(job + "-later")
			// flaky fails its three attempts (max_attempts 3), then the
			// job restarts it with a fresh budget and attempt 4 succeeds.
			h.submitSub(sub("flaky", "flaky", `{"succeed_on":4}`, 1))

			f := h.await(job + "-flaky")
			st := f.GetStatus()
			if st.GetState() != completed || st.GetAttempts() != 4 || st.GetBudgetBase() != 3 || st.GetJobRestarts() != 1 ||
				!slices.Equal(causes(f), []string{"1:error", "2:error", "3:error"}) {
				t.Fatalf("flaky: %v attempts %d base %d job restarts %d errors %v; want completed on attempt 4 after one job restart",
					st.GetState(), st.GetAttempts(), st.GetBudgetBase(), st.GetJobRestarts(), causes(f))
			}
			// The later stage was restarted (under both strategies): its
			// first attempt was terminated (and waited for), the second
			// completed.
			l := h.await(job + "-later")
			if l.GetStatus().GetState() != completed || l.GetStatus().GetAttempts() != 2 || !slices.Equal(causes(l), []string{"1:" + tasks.CauseJobTerminate}) {
				t.Fatalf("later stage: %v attempts %d errors %v; want restarted once by the job, then completed",
					l.GetStatus().GetState(), l.GetStatus().GetAttempts(), causes(l))
			}
			e := h.get(job + "-early")
			wantEarly := int32(1) // rest_for_one leaves earlier stages alone
			if strategy == "one_for_all" {
				wantEarly = 2
			}
			if e.GetStatus().GetAttempts() != wantEarly || e.GetStatus().GetState() != running {
				t.Fatalf("early stage: %v attempts %d errors %v; want running, attempt %d", e.GetStatus().GetState(), e.GetStatus().GetAttempts(), causes(e), wantEarly)
			}
			_, sum, err := h.m.Job(context.Background(), job)
			if err != nil || sum.State != api.StateRunning || len(sum.Restarts) != 1 || sum.Restarts[0].GetTask() != job+"-flaky" || sum.MaxRestarts != 1 {
				t.Fatalf("job summary %+v, %v; want running after one restart", sum, err)
			}
			if _, err := h.m.Cancel(context.Background(), job+"-early", ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestJobFailsWhenItsBudgetIsSpent: once the job's restarts are used up,
// the next task failing for good fails the job, and the strategy's tasks
// are stopped.
func TestJobFailsWhenItsBudgetIsSpent(t *testing.T) {
	h := newHarness(t, "")
	job := "spent"
	sub := func(id, kind, payload string) tasks.Submission {
		return tasks.Submission{ID: id, Kind: kind, Payload: []byte(payload), JobID: job, JobStrategy: "one_for_all", JobMaxRestarts: 2}
	}
	h.submitSub(sub("spent-other", "slow", ""))
	h.running("spent-other")
	h.submitSub(sub("spent-flaky", "flaky", `{"succeed_on":100}`))
	f := h.await("spent-flaky")
	st := f.GetStatus()
	if st.GetState() != failed || st.GetAttempts() != 9 || st.GetJobRestarts() != 2 || !strings.Contains(st.GetError(), "job spent gave up: restart budget exhausted") {
		t.Fatalf("flaky: %v after %d attempts, %d job restarts: %q; want failed after 3x3 attempts with the job's budget spent",
			st.GetState(), st.GetAttempts(), st.GetJobRestarts(), st.GetError())
	}
	o := h.await("spent-other")
	if o.GetStatus().GetState() != messages.TaskState_TASK_STATE_CANCELLED || o.GetStatus().GetAttempts() != 3 || o.GetStatus().GetJobRestarts() != 2 {
		t.Fatalf("other task: %v after %d attempts, %d job restarts; want restarted twice, then cancelled with the job",
			o.GetStatus().GetState(), o.GetStatus().GetAttempts(), o.GetStatus().GetJobRestarts())
	}
	_, sum, err := h.m.Job(context.Background(), job)
	if err != nil || sum.State != api.StateFailed || len(sum.Restarts) != 2 || !strings.Contains(sum.Cause, "restart budget exhausted") {
		t.Fatalf("job summary %+v, %v", sum, err)
	}
	// A task naming another budget than its job's is refused.
	if _, _, err := h.m.Submit(context.Background(), tasks.Submission{Kind: "ok", JobID: job, JobStrategy: "one_for_all", JobMaxRestarts: 5}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("submit with another budget: %v, want ErrInvalidArgument", err)
	}
}

func TestRestartOfAFinishedTaskIsRefused(t *testing.T) {
	h := newHarness(t, "")
	id := h.submit("ok", `1`, actors.Overrides{})
	h.await(id)
	if _, err := h.m.Restart(context.Background(), id, "", ""); !errors.Is(err, api.ErrFailedPrecondition) {
		t.Fatalf("Restart of a completed task: %v, want ErrFailedPrecondition", err)
	}
	for _, bad := range []tasks.Submission{
		{Kind: "ok", JobMaxRestarts: 1},
		{Kind: "ok", JobID: "j", JobMaxRestarts: -1},
		{Kind: "ok", JobID: "j", JobMaxRestarts: tasks.MaxJobRestarts + 1},
		{Kind: "ok", JobID: "j", JobRestartPeriod: time.Minute},
		{Kind: "ok", JobID: "j", JobMaxRestarts: 1, JobRestartPeriod: -time.Second},
	} {
		if _, _, err := h.m.Submit(context.Background(), bad); !errors.Is(err, api.ErrInvalidArgument) {
			t.Fatalf("Submit(%+v) = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

func TestExpiredJobs(t *testing.T) {
	at := func(id string, d time.Duration) store.JobRecord {
		return store.JobRecord{Job: &messages.Job{Id: id, UpdatedAt: timestamppb.New(t0.Add(-d))}}
	}
	jobs := []store.JobRecord{at("old-empty", 2*time.Hour), at("old-live", 2*time.Hour), at("new-empty", time.Minute)}
	got := tasks.ExpiredJobs(jobs, map[string]bool{"old-live": true}, t0, time.Hour)
	if len(got) != 1 || got[0].Job.GetId() != "old-empty" {
		t.Fatalf("ExpiredJobs = %v; want only old-empty", got)
	}
}

// TestJanitorSweepsTasksAndJobRecords runs the janitor with a clock moved
// past retention: finished tasks go, and so does the record of a job left
// without tasks; unfinished tasks stay.
func TestJanitorSweepsTasksAndJobRecords(t *testing.T) {
	h := newHarness(t, "")
	job := "swept"
	h.submitSub(tasks.Submission{ID: "swept-flaky", Kind: "flaky", Payload: []byte(`{"succeed_on":4}`), JobID: job, JobMaxRestarts: 1})
	h.await("swept-flaky")
	if _, err := h.store.GetJob(context.Background(), job); err != nil {
		t.Fatalf("the job restarted but has no record: %v", err)
	}
	slow := h.submit("slow", ``, actors.Overrides{})
	h.running(slow)
	h.close()

	_, s := startManager(t, "m1", h.path, func(cfg *tasks.Config) {
		cfg.Retention, cfg.JanitorEvery = time.Hour, 10*time.Millisecond
		cfg.Clock = func() time.Time { return time.Now().Add(2 * time.Hour) }
	})
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		_, terr := s.Get(context.Background(), "swept-flaky")
		_, jerr := s.GetJob(context.Background(), job)
		return errors.Is(terr, store.ErrNotFound) && errors.Is(jerr, store.ErrNotFound), fmt.Sprintf("task: %v, job record: %v", terr, jerr)
	})
	if _, err := s.Get(context.Background(), slow); err != nil {
		t.Fatalf("the unfinished task went with the sweep: %v", err)
	}
}

// TestRestartOfATaskNoLiveMemberOwns: the restart is written directly,
// check-and-set, for the member that adopts the task to carry out.
func TestRestartOfATaskNoLiveMemberOwns(t *testing.T) {
	h := newHarness(t, "")
	task := &messages.Task{
		Spec: &messages.TaskSpec{Id: "orphan", Kind: "ok", Payload: []byte(`1`), Retry: &messages.RetryPolicy{MaxAttempts: 3}},
		Status: &messages.TaskStatus{State: running, Owner: "ghost", Epoch: 4, Attempts: 2,
			Errors: []*messages.AttemptError{{Attempt: 1, Cause: "error", Message: "first"}}},
	}
	if _, _, err := h.store.Create(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	rec, err := h.m.Restart(context.Background(), "orphan", "job j restarted", "r1")
	if err != nil {
		t.Fatal(err)
	}
	// Asked again under the same request id (a retry after a lost
	// answer): nothing changes.
	again, err := h.m.Restart(context.Background(), "orphan", "job j restarted", "r1")
	if err != nil || again.Revision != rec.Revision {
		t.Fatalf("the same restart again = revision %d, %v; want the task unchanged at %d", again.Revision, err, rec.Revision)
	}
	st := rec.Task.GetStatus()
	if st.GetState() != retrying || st.GetOwner() != "ghost" || st.GetEpoch() != 4 || st.GetBudgetBase() != 2 || st.GetJobRestarts() != 1 ||
		!slices.Equal(causes(rec.Task), []string{"1:error", "2:" + tasks.CauseRestart}) || st.GetErrors()[1].GetMessage() != "job j restarted" {
		t.Fatalf("restart written for a dead owner: %v", st)
	}
	if st.GetNextAttemptAt().AsTime().After(time.Now()) {
		t.Fatalf("restarted task due at %v, want at once", st.GetNextAttemptAt().AsTime())
	}
}

// TestRestartIsIdempotentByRequestID: a running task restarted twice under
// one request id restarts once; another id restarts it again.
func TestRestartIsIdempotentByRequestID(t *testing.T) {
	h := newHarness(t, "")
	id := h.submit("slow", ``, actors.Overrides{})
	h.running(id)
	ctx := testutil.Context(t, 10*time.Second)
	first, err := h.m.Restart(ctx, id, "by test", "req-1")
	if err != nil || first.Task.GetStatus().GetJobRestarts() != 1 {
		t.Fatalf("Restart = %v, %v; want one restart", first.Task.GetStatus(), err)
	}
	for i := 0; i < 2; i++ {
		again, err := h.m.Restart(ctx, id, "by test", "req-1")
		if err != nil || again.Task.GetStatus().GetJobRestarts() != 1 || again.Revision < first.Revision {
			t.Fatalf("the same restart again = %v, %v; want it applied once", again.Task.GetStatus(), err)
		}
	}
	h.running(id)
	other, err := h.m.Restart(ctx, id, "by test", "req-2")
	if err != nil || other.Task.GetStatus().GetJobRestarts() != 2 {
		t.Fatalf("another restart = %v, %v; want a second restart", other.Task.GetStatus(), err)
	}
	if _, err := h.m.Cancel(ctx, id, "test over"); err != nil {
		t.Fatal(err)
	}
	// After the task finished, a retry of an applied restart still answers
	// with the task, not an error.
	if rec, err := h.m.Restart(ctx, id, "by test", "req-2"); err != nil || rec.Task.GetStatus().GetState() != messages.TaskState_TASK_STATE_CANCELLED {
		t.Fatalf("retried restart of a finished task = %v, %v; want the task as it is", rec.Task.GetStatus(), err)
	}
}

// jobFailsAfterCheck is a store on which a job's failure is recorded just
// after a submit has read the job (checkJob saw it live): the escalation
// that records it has listed the job's tasks before the new one is stored.
type jobFailsAfterCheck struct {
	store.Store
	job   string
	armed atomic.Bool
}

func (s *jobFailsAfterCheck) GetJob(ctx context.Context, id string) (store.JobRecord, error) {
	jr, err := s.Store.GetJob(ctx, id)
	if err == nil && id == s.job && s.armed.CompareAndSwap(true, false) {
		failed := proto.Clone(jr.Job).(*messages.Job)
		failed.Failed, failed.Cause = true, "task other failed: boom"
		if _, err := s.Store.PutJob(ctx, failed, jr.Revision); err != nil {
			return store.JobRecord{}, err
		}
	}
	return jr, err
}

// TestTaskJoiningAFailingJobIsCancelled: a task whose submit read its job
// just before the job's failure was recorded is stored after the
// escalation listed the job's tasks; it is cancelled once stored, as the
// submit would have been refused a moment later (it ran on in a failed job).
func TestTaskJoiningAFailingJobIsCancelled(t *testing.T) {
	var fs *jobFailsAfterCheck
	h := newHarnessWith(t, "", func(s store.Store) store.Store {
		fs = &jobFailsAfterCheck{Store: s, job: "racy"}
		return fs
	})
	sub := func(id string, stage int) tasks.Submission {
		return tasks.Submission{ID: id, Kind: "slow", JobID: "racy", JobStrategy: "rest_for_one", JobStage: stage}
	}
	h.submitSub(sub("racy-first", 0))
	h.running("racy-first")
	// The job's supervisor has heard of racy-first (its report read the
	// job too): the next read of the job is racy-late's submit's. Armed
	// before, the supervisor's read took the failure now and then, and the
	// submit's write found the job changed under it.
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		jr, err := fs.Store.GetJob(context.Background(), "racy")
		for _, c := range jr.Job.GetRun().GetChildren() {
			if c.GetId() == "racy-first" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("the job's supervisor has not recorded racy-first (%v)", err)
	})
	fs.armed.Store(true)
	h.submitSub(sub("racy-late", 1))
	got := h.await("racy-late")
	if got.GetStatus().GetState() != messages.TaskState_TASK_STATE_CANCELLED || !strings.Contains(got.GetStatus().GetError(), "job racy had ended") {
		t.Fatalf("the task that joined as its job failed is %v (%q); want cancelled for the job", got.GetStatus().GetState(), got.GetStatus().GetError())
	}
	// Its submit is refused now that the failure is recorded.
	if _, _, err := h.m.Submit(context.Background(), sub("racy-later", 1)); !errors.Is(err, api.ErrFailedPrecondition) {
		t.Fatalf("submit to the failed job: %v, want ErrFailedPrecondition", err)
	}
}
