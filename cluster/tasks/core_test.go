package tasks

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The task core's transitions, table by table: no actors, no store, a
// fixed clock.

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	running  = messages.TaskState_TASK_STATE_RUNNING
	retrying = messages.TaskState_TASK_STATE_RETRYING
	pending  = messages.TaskState_TASK_STATE_PENDING
	failed   = messages.TaskState_TASK_STATE_FAILED
)

// coreTask is a task of max attempts, backoff 1s doubling to 8s without
// jitter, owned by n1 in state st at attempt n.
func coreTask(st messages.TaskState, n int32, maxAttempts int32) *messages.Task {
	return &messages.Task{
		Spec: &messages.TaskSpec{
			Id: "t1", Kind: "k",
			Retry: &messages.RetryPolicy{
				MaxAttempts: maxAttempts, BackoffInitial: durationpb.New(time.Second), BackoffMultiplier: 2,
				BackoffMax: durationpb.New(8 * time.Second), Jitter: messages.Jitter_JITTER_NONE,
			},
		},
		Status: &messages.TaskStatus{State: st, Owner: "n1", Epoch: 1, Attempts: n, StartedAt: timestamppb.New(t0.Add(-time.Minute))},
	}
}

// treeOf is the supervision tree a task actor builds for t, with restarts
// already spent.
func treeOf(t *testing.T, task *messages.Task, restarts int) *supervisor.Tree {
	t.Helper()
	spec, _ := settingsOf(task.GetSpec())
	tree, err := supervisor.NewTree(spec, supervisor.Child{ID: attemptChild, Restart: supervisor.Transient})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < restarts; i++ {
		tree.Replay(attemptChild, t0.Add(-time.Duration(restarts-i)*time.Second))
	}
	return tree
}

func TestPlanLoad(t *testing.T) {
	withStatus := func(f func(st *messages.TaskStatus)) *messages.TaskStatus {
		st := coreTask(running, 1, 3).Status
		f(st)
		return st
	}
	due := t0.Add(5 * time.Second)
	cases := []struct {
		name        string
		st          *messages.TaskStatus
		adopt, born bool
		want        step
		check       func(t *testing.T, p plan)
	}{
		{name: "finished: nothing to run", st: withStatus(func(st *messages.TaskStatus) { st.State = messages.TaskState_TASK_STATE_COMPLETED }), adopt: true, want: stepStop},
		{name: "owned by another member, not adopting", st: withStatus(func(st *messages.TaskStatus) { st.Owner = "n2" }), want: stepStop,
			check: func(t *testing.T, p plan) {
				if p.reason == "" {
					t.Error("no reason to log")
				}
			}},
		{name: "born here: run attempt 1 without a write", st: withStatus(func(*messages.TaskStatus) {}), born: true, want: stepRun},
		{name: "born but claimed again since: lost", st: withStatus(func(st *messages.TaskStatus) { st.Epoch = 2 }), born: true, want: stepLost},
		{name: "not born, running here: the previous process lost it", st: withStatus(func(*messages.TaskStatus) {}), want: stepLost},
		{name: "adopting a lost member's running attempt", st: withStatus(func(st *messages.TaskStatus) { st.Owner, st.Attempts = "n2", 2 }), adopt: true, want: stepLost,
			check: func(t *testing.T, p plan) {
				if p.attempt != 2 || p.failure.Cause != supervisor.CauseMemberLost || !strings.Contains(errText(p.failure.Err), "member n2") || !p.failure.At.Equal(t0) {
					t.Errorf("lost attempt %d %+v, want attempt 2 lost with member n2 at t0", p.attempt, p.failure)
				}
			}},
		{name: "pending: start", st: withStatus(func(st *messages.TaskStatus) { st.State, st.Attempts = pending, 0 }), want: stepStart,
			check: func(t *testing.T, p plan) {
				if !p.at.Equal(t0) || p.entry != nil {
					t.Errorf("start at %v entry %v, want t0 and none", p.at, p.entry)
				}
			}},
		{name: "retrying: wait out the backoff decided before", st: withStatus(func(st *messages.TaskStatus) { st.State, st.NextAttemptAt = retrying, timestamppb.New(due) }), adopt: true, want: stepSchedule,
			check: func(t *testing.T, p plan) {
				if !p.at.Equal(due) {
					t.Errorf("scheduled at %v, want %v", p.at, due)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := planLoad(c.st, "n1", c.adopt, c.born, t0)
			if p.step != c.want {
				t.Fatalf("step %v, want %v", p.step, c.want)
			}
			if c.check != nil {
				c.check(t, p)
			}
		})
	}
}

func TestReplayRestarts(t *testing.T) {
	at := func(s int) *timestamppb.Timestamp { return timestamppb.New(t0.Add(time.Duration(s) * time.Second)) }
	errs := []*messages.AttemptError{{Attempt: 1, At: at(1)}, {Attempt: 2, At: at(2)}, {Attempt: 3, At: at(3)}}
	cases := []struct {
		name     string
		state    messages.TaskState
		attempts int32
		base     int32
		errors   []*messages.AttemptError
		want     []time.Time
	}{
		{name: "first attempt running: no restart", state: running, attempts: 1},
		{name: "third attempt running: two restarts", state: running, attempts: 3, errors: errs, want: []time.Time{t0.Add(time.Second), t0.Add(2 * time.Second)}},
		{name: "retrying after the third: its restart is decided", state: retrying, attempts: 3, errors: errs, want: []time.Time{t0.Add(time.Second), t0.Add(2 * time.Second), t0.Add(3 * time.Second)}},
		{name: "a job restart gave a fresh budget", state: running, attempts: 3, base: 2, errors: errs},
		{name: "after a job restart, retrying", state: retrying, attempts: 3, base: 2, errors: errs, want: []time.Time{t0.Add(3 * time.Second)}},
		{name: "restarts without a recorded failure count now", state: running, attempts: 3, errors: errs[:1], want: []time.Time{t0.Add(time.Second), t0.Add(time.Minute)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := &messages.TaskStatus{State: c.state, Attempts: c.attempts, BudgetBase: c.base, Errors: c.errors}
			got := replayRestarts(st, t0.Add(time.Minute))
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("replay %v, want %v", got, c.want)
			}
		})
	}
}

func TestTimerDue(t *testing.T) {
	st := coreTask(retrying, 2, 3).Status
	cases := []struct {
		name              string
		after             int
		running, draining bool
		want              bool
	}{
		{name: "due", after: 2, want: true},
		{name: "another attempt started since (a restart, say)", after: 1},
		{name: "an attempt runs", after: 2, running: true},
		{name: "draining", after: 2, draining: true},
	}
	for _, c := range cases {
		if got := timerDue(c.after, st, c.running, c.draining); got != c.want {
			t.Errorf("%s: due %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPlanDue(t *testing.T) {
	entry := &messages.AttemptError{Attempt: 2}
	cases := []struct {
		name     string
		deadline time.Time
		want     step
		reason   string
	}{
		{name: "no deadline", want: stepStart},
		{name: "deadline ahead", deadline: t0.Add(time.Nanosecond), want: stepStart},
		{name: "deadline passed during the backoff", deadline: t0.Add(-time.Second), want: stepFinish, reason: "deadline exceeded before attempt 3 could start"},
		{name: "deadline exactly now", deadline: t0, want: stepFinish, reason: "deadline exceeded before attempt 3 could start"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := coreTask(retrying, 2, 5).Status
			if !c.deadline.IsZero() {
				st.Deadline = timestamppb.New(c.deadline)
			}
			p := planDue(st, t0, entry)
			if p.step != c.want || p.reason != c.reason || p.entry != entry {
				t.Fatalf("plan %v %q entry %v, want %v %q with the entry", p.step, p.reason, p.entry, c.want, c.reason)
			}
			if p.step == stepFinish && p.state != failed {
				t.Errorf("finishes %v, want failed", p.state)
			}
		})
	}
}

func TestPlanFailure(t *testing.T) {
	wd := supervisor.Watchdog{AttemptTimeout: time.Second, HeartbeatTimeout: time.Second}
	cases := []struct {
		name        string
		task        func() *messages.Task
		spent       int // restarts already spent
		failure     supervisor.Failure
		draining    bool
		want        step
		at          time.Time // stepRetry, stepStart
		reason      string    // stepFinish: the error starts with it
		entryMember string
	}{
		{
			name: "error, budget left: retry after the backoff",
			task: func() *messages.Task { return coreTask(running, 1, 3) }, failure: supervisor.Failure{Cause: supervisor.CauseError, Err: errors.New("flaky")},
			want: stepRetry, at: t0.Add(time.Second),
		},
		{
			name: "second failure: the backoff doubles",
			task: func() *messages.Task { return coreTask(running, 2, 3) }, spent: 1, failure: supervisor.Failure{Cause: supervisor.CauseError, Err: errors.New("flaky")},
			want: stepRetry, at: t0.Add(2 * time.Second),
		},
		{
			name: "panic: retried, its stack recorded",
			task: func() *messages.Task { return coreTask(running, 1, 3) }, failure: handlerFailure(panicked, t0),
			want: stepRetry, at: t0.Add(time.Second),
		},
		{
			name: "hung attempt (attempt time-out): retried",
			task: func() *messages.Task { return coreTask(running, 1, 3) }, failure: wd.Failure(supervisor.CauseAttemptTimeout, t0),
			want: stepRetry, at: t0.Add(time.Second),
		},
		{
			name: "silent attempt (heartbeat time-out): retried",
			task: func() *messages.Task { return coreTask(running, 1, 3) }, failure: wd.Failure(supervisor.CauseHeartbeatTimeout, t0),
			want: stepRetry, at: t0.Add(time.Second),
		},
		{
			name: "permanent error: failed at once, budget or not",
			task: func() *messages.Task { return coreTask(running, 1, 3) }, failure: supervisor.Failure{Cause: supervisor.CauseError, Err: actors.Permanent(errors.New("bad card"))},
			want: stepFinish, reason: "permanent error on attempt 1: error: bad card",
		},
		{
			name: "deadline passed during the attempt",
			task: func() *messages.Task { return coreTask(running, 1, 3) }, failure: supervisor.Failure{Cause: supervisor.CauseDeadline, Err: errors.New("late")},
			want: stepFinish, reason: "deadline exceeded during attempt 1",
		},
		{
			name: "cancelled: stopped",
			task: func() *messages.Task { return coreTask(running, 1, 3) }, failure: supervisor.Failure{Cause: supervisor.CauseCancelled, Err: errors.New("stop")},
			want: stepFinish, reason: "stopped after attempt 1: not restarting after",
		},
		{
			name: "budget exhausted: gave up",
			task: func() *messages.Task { return coreTask(running, 3, 3) }, spent: 2, failure: supervisor.Failure{Cause: supervisor.CauseError, Err: errors.New("flaky")},
			want: stepFinish, reason: "gave up after 3 attempts (max_attempts 3); last error: error: flaky",
		},
		{
			name: "budget exhausted after a job restart: counts from its base",
			task: func() *messages.Task {
				t := coreTask(running, 5, 2)
				t.Status.BudgetBase = 3
				return t
			}, spent: 1, failure: supervisor.Failure{Cause: supervisor.CauseError, Err: errors.New("flaky")},
			want: stepFinish, reason: "gave up after 2 attempts since its last restart (max_attempts 2; 5 in all)",
		},
		{
			// The task actor holds it for its job instead (holdOf).
			name: "budget exhausted in a job with restarts: fails for good",
			task: func() *messages.Task {
				t := coreTask(running, 1, 1)
				t.Spec.JobId, t.Spec.JobMaxRestarts = "j1", 2
				return t
			}, failure: supervisor.Failure{Cause: supervisor.CauseError, Err: errors.New("flaky")},
			want: stepFinish, reason: "gave up after 1 attempt (max_attempts 1)",
		},
		{
			name: "no time left before the deadline for the backoff",
			task: func() *messages.Task {
				t := coreTask(running, 1, 3)
				t.Status.Deadline = timestamppb.New(t0.Add(time.Second)) // the next attempt would be due exactly then
				return t
			}, failure: supervisor.Failure{Cause: supervisor.CauseError, Err: errors.New("flaky")},
			want: stepFinish, reason: "deadline exceeded: no time left for attempt 2; last error: error: flaky",
		},
		{
			name: "no time left, but draining: recorded retrying for the next owner",
			task: func() *messages.Task {
				t := coreTask(running, 1, 3)
				t.Status.Deadline = timestamppb.New(t0.Add(time.Second))
				return t
			}, draining: true, failure: supervisor.Failure{Cause: supervisor.CauseError, Err: errors.New("flaky")},
			want: stepRetry, at: t0.Add(time.Second),
		},
		{
			name: "lost with its member: the next attempt starts at once, recorded on that member",
			task: func() *messages.Task {
				t := coreTask(running, 1, 3)
				t.Status.Owner = "n2"
				return t
			}, failure: supervisor.Failure{Cause: supervisor.CauseMemberLost, Err: errors.New("n2 left")},
			want: stepStart, at: t0, entryMember: "n2",
		},
		{
			name: "lost with its member, budget spent: gave up",
			task: func() *messages.Task { return coreTask(running, 2, 2) }, spent: 1, failure: supervisor.Failure{Cause: supervisor.CauseMemberLost, Err: errors.New("n2 left")},
			want: stepFinish, reason: "gave up after 2 attempts",
		},
		{
			name: "lost with its member while draining: retrying, not started",
			task: func() *messages.Task { return coreTask(running, 1, 3) }, draining: true, failure: supervisor.Failure{Cause: supervisor.CauseMemberLost, Err: errors.New("n2 left")},
			want: stepRetry, at: t0.Add(time.Second),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			task := c.task()
			f := c.failure
			f.At = t0
			attempt := int(task.GetStatus().GetAttempts())
			d := treeOf(t, task, c.spent).Failed(attemptChild, f, t0, 0.5)
			p := planFailure(task, f, d, attempt, t0, c.draining, "n1")
			if p.step != c.want {
				t.Fatalf("step %v (%s), want %v; decision %+v", p.step, p.reason, c.want, d)
			}
			switch p.step {
			case stepRetry, stepStart:
				if !p.at.Equal(c.at) {
					t.Errorf("due at %v, want %v", p.at, c.at)
				}
			case stepFinish:
				if p.state != failed || !strings.HasPrefix(p.reason, c.reason) {
					t.Errorf("finishes %v %q, want failed %q…", p.state, p.reason, c.reason)
				}
			}
			e := p.entry
			if e == nil {
				t.Fatal("the failed attempt is not recorded")
			}
			member := "n1"
			if c.entryMember != "" {
				member = c.entryMember
			}
			if int(e.Attempt) != attempt || e.Cause != f.Cause.String() || e.Message != errText(f.Err) || e.Member != member ||
				!e.At.AsTime().Equal(t0) || !proto.Equal(e.StartedAt, task.Status.StartedAt) || e.Stack != string(f.Stack) {
				t.Errorf("entry %v, want attempt %d, cause %s on %s", e, attempt, f.Cause, member)
			}
		})
	}
}

func TestHoldOf(t *testing.T) {
	job := &messages.TaskSpec{JobId: "j1"}
	perm := &messages.TaskSpec{JobId: "j1", Restart: "permanent"}
	for _, c := range []struct {
		spec       *messages.TaskSpec
		state      messages.TaskState
		unmendable bool
		want       string
	}{
		{&messages.TaskSpec{}, failed, false, ""},
		{job, failed, false, holdFailed},
		{job, failed, true, holdFailedFinal},
		{job, messages.TaskState_TASK_STATE_COMPLETED, false, ""},
		{perm, messages.TaskState_TASK_STATE_COMPLETED, false, holdCompleted},
		{job, messages.TaskState_TASK_STATE_CANCELLED, false, ""},
	} {
		if got := holdOf(c.spec, c.state, c.unmendable); got != c.want {
			t.Errorf("holdOf(%v, %v, %v) = %q, want %q", c.spec, c.state, c.unmendable, got, c.want)
		}
	}
}

func TestIsCurrent(t *testing.T) {
	st := &messages.TaskStatus{Attempts: 2}
	if !isCurrent(2, st, true) || isCurrent(1, st, true) || isCurrent(2, st, false) {
		t.Error("only the running attempt's result commits")
	}
}

func TestStatusChanges(t *testing.T) {
	entry := &messages.AttemptError{Attempt: 1, Cause: "error"}
	t.Run("start", func(t *testing.T) {
		st := coreTask(retrying, 1, 3).Status
		st.NextAttemptAt, st.Progress, st.ProgressNote = timestamppb.New(t0), 0.5, "half"
		startStatus(st, t0, entry)
		if st.State != running || st.Attempts != 2 || !st.StartedAt.AsTime().Equal(t0) || st.NextAttemptAt != nil ||
			st.Progress != 0 || st.ProgressNote != "" || len(st.Errors) != 1 {
			t.Errorf("started: %v", st)
		}
		startStatus(st, t0, nil)
		if len(st.Errors) != 1 {
			t.Errorf("a start without a failure recorded %d errors", len(st.Errors))
		}
	})
	t.Run("retry", func(t *testing.T) {
		st := coreTask(running, 1, 3).Status
		retryStatus(st, t0.Add(time.Second), entry)
		if st.State != retrying || !st.NextAttemptAt.AsTime().Equal(t0.Add(time.Second)) || len(st.Errors) != 1 || st.Attempts != 1 {
			t.Errorf("retrying: %v", st)
		}
	})
	t.Run("commit without a result", func(t *testing.T) {
		st := coreTask(running, 1, 3).Status
		finishStatus(st, messages.TaskState_TASK_STATE_COMPLETED, "", nil, nil, t0)
		if st.State != messages.TaskState_TASK_STATE_COMPLETED || st.Progress != 1 || st.Result != nil || !st.FinishedAt.AsTime().Equal(t0) {
			t.Errorf("completed: %v", st)
		}
	})
	t.Run("cancel during the backoff", func(t *testing.T) {
		st := coreTask(retrying, 1, 3).Status
		st.NextAttemptAt = timestamppb.New(t0.Add(time.Hour))
		finishStatus(st, messages.TaskState_TASK_STATE_CANCELLED, "by request", nil, nil, t0)
		if st.State != messages.TaskState_TASK_STATE_CANCELLED || st.Error != "by request" || st.NextAttemptAt != nil ||
			st.Progress != 0 || !st.FinishedAt.AsTime().Equal(t0) {
			t.Errorf("cancelled: %v", st)
		}
	})
	t.Run("failed for good", func(t *testing.T) {
		st := coreTask(running, 1, 3).Status
		finishStatus(st, failed, "gave up", entry, nil, t0)
		if st.State != failed || st.Error != "gave up" || len(st.Errors) != 1 || st.Progress != 0 {
			t.Errorf("failed: %v", st)
		}
	})
	t.Run("held for its job after failing for good, then started again", func(t *testing.T) {
		st := coreTask(running, 3, 3).Status
		holdStatus(st, holdFailed, "gave up", entry, nil, t0)
		if st.State != retrying || st.NextAttemptAt != nil || st.JobHold != holdFailed || st.Error != "gave up" || len(st.Errors) != 1 {
			t.Errorf("held: %v", st)
		}
		c := Control{Op: OpRestart, Round: 2, RequestID: "job:j1#2"}
		restartStatus(st, t0, "job j1 restarted", "n1", c.RequestID)
		jobStartStatus(st, c)
		if st.State != retrying || !st.NextAttemptAt.AsTime().Equal(t0) || st.BudgetBase != 3 || st.JobRestarts != 1 ||
			len(st.Errors) != 1 || st.JobHold != "" || st.JobRound != 2 || st.Error != "" {
			t.Errorf("job start: %v (the failed attempt is recorded once, not also as interrupted)", st)
		}
	})
	t.Run("terminated by its job", func(t *testing.T) {
		for _, c := range []struct {
			final     supervisor.Final
			abandoned bool
			state     messages.TaskState
			hold      string
			cause     string
		}{
			{supervisor.FinalNone, false, retrying, holdTerminated, CauseJobTerminate},
			{supervisor.FinalNone, true, retrying, holdTerminated, CauseAbandoned},
			{supervisor.FinalCancelled, false, messages.TaskState_TASK_STATE_CANCELLED, "", CauseJobTerminate},
			{supervisor.FinalFailed, true, failed, "", CauseAbandoned},
		} {
			st := coreTask(running, 2, 3).Status
			terminateStatus(st, Control{Op: OpTerminate, Final: c.final, Reason: "job j1 restarts"}, c.abandoned, t0, "n1")
			if st.State != c.state || st.JobHold != c.hold || len(st.Errors) != 1 || st.Errors[0].Cause != c.cause || st.NextAttemptAt != nil {
				t.Errorf("%v abandoned %v: %v", c.final, c.abandoned, st)
			}
		}
		st := coreTask(retrying, 2, 3).Status
		holdStatus(st, holdFailed, "gave up", nil, nil, t0)
		terminateStatus(st, Control{Op: OpTerminate, Final: supervisor.FinalFailed, Reason: "job j1 gave up"}, false, t0, "n1")
		if st.State != failed || st.Error != "gave up; job j1 gave up" || len(st.Errors) != 0 {
			t.Errorf("a held failed task made final: %v", st)
		}
	})
	t.Run("restart of a running attempt records it interrupted", func(t *testing.T) {
		st := coreTask(running, 2, 3).Status
		restartStatus(st, t0, "by request", "n1", "r1")
		if st.State != retrying || len(st.Errors) != 1 || st.Errors[0].Cause != CauseRestart || st.Errors[0].Attempt != 2 ||
			st.LastRestart != "r1" || st.BudgetBase != 2 {
			t.Errorf("restarted by request: %v; want the attempt recorded with cause %q (no job restarted it)", st, CauseRestart)
		}
		st = coreTask(running, 2, 3).Status
		restartStatus(st, t0, "job j1 restarted", "n1", jobStartID("j1", 2))
		if len(st.Errors) != 1 || st.Errors[0].Cause != CauseJobRestart {
			t.Errorf("restarted by its job: %v; want cause %q", st, CauseJobRestart)
		}
	})
}

func TestConflictVerdict(t *testing.T) {
	mine := coreTask(running, 1, 3)
	rec := func(f func(t *messages.Task)) store.Record {
		t := proto.Clone(mine).(*messages.Task)
		f(t)
		return store.Record{Task: t, Revision: 9}
	}
	sent := rec(func(t *messages.Task) { t.Status.State = retrying }).Task
	cases := []struct {
		name   string
		fresh  store.Record
		sent   *messages.Task
		landed bool
		err    error
	}{
		{name: "the write landed, its answer lost", fresh: rec(func(t *messages.Task) { t.Status.State = retrying }), sent: sent, landed: true},
		{name: "another member claimed it", fresh: rec(func(t *messages.Task) { t.Status.Epoch, t.Status.Owner = 2, "n2" }), sent: sent, err: errLostClaim},
		{name: "same epoch, another owner", fresh: rec(func(t *messages.Task) { t.Status.Owner = "n2" }), err: errLostClaim},
		{name: "finished by another writer (a cancel)", fresh: rec(func(t *messages.Task) { t.Status.State = messages.TaskState_TASK_STATE_CANCELLED }), err: errFinished},
		{name: "a concurrent change to merge (progress)", fresh: rec(func(t *messages.Task) { t.Status.Progress = 0.5 }), sent: sent},
	}
	for _, c := range cases {
		landed, err := conflictVerdict(c.fresh, mine.Status, c.sent)
		if landed != c.landed || !errors.Is(err, c.err) || (c.err == nil && err != nil) {
			t.Errorf("%s: landed %v err %v, want %v %v", c.name, landed, err, c.landed, c.err)
		}
	}
}

func TestWriteVerdictOf(t *testing.T) {
	cases := []struct {
		err  error
		want writeVerdict
	}{
		{fmt.Errorf("%w: epoch 3", errLostClaim), writeLeave},
		{fmt.Errorf("%w: cancelled", errFinished), writeLeave},
		{errFenced, writeLeave},
		{fmt.Errorf("%w: store down", errFirstWrite), writeLeave},
		{fmt.Errorf("%w: 600 KiB", errRecordTooLarge), writeStuck},
		{fmt.Errorf("update: %w", store.ErrUnavailable), writeCrash},
		{errors.New("anything else"), writeCrash},
	}
	for _, c := range cases {
		if got := writeVerdictOf(c.err); got != c.want {
			t.Errorf("%v: verdict %d, want %d", c.err, got, c.want)
		}
	}
}

// TestCoreLifecycle walks one task through the core alone, applying each
// plan's status change as the actor would: two failures retried with
// backoff, the budget spent on the third.
func TestCoreLifecycle(t *testing.T) {
	task := coreTask(pending, 0, 3)
	task.Status.Owner = "n1"
	tree := treeOf(t, task, 0)
	now := t0
	var steps []string
	p := planLoad(task.Status, "n1", false, false, now)
	for i := 0; i < 10 && p.step != stepFinish; i++ {
		steps = append(steps, p.step.String())
		switch p.step {
		case stepStart:
			startStatus(task.Status, p.at, p.entry)
			f := supervisor.Failure{Cause: supervisor.CauseError, Err: errors.New("flaky"), At: now}
			d := tree.Failed(attemptChild, f, now, 0)
			p = planFailure(task, f, d, int(task.Status.Attempts), now, false, "n1")
		case stepRetry:
			retryStatus(task.Status, p.at, p.entry)
			now = p.at // the timer fires
			if !timerDue(int(task.Status.Attempts), task.Status, false, false) {
				t.Fatal("the backoff timer is not due")
			}
			p = planDue(task.Status, now, nil)
		default:
			t.Fatalf("unexpected step %v", p.step)
		}
	}
	steps = append(steps, p.step.String())
	finishStatus(task.Status, p.state, p.reason, p.entry, nil, now)
	if got := strings.Join(steps, " "); got != "start retry start retry start finish" {
		t.Errorf("steps %q", got)
	}
	st := task.Status
	if st.State != failed || st.Attempts != 3 || len(st.Errors) != 3 || !now.Equal(t0.Add(3*time.Second)) ||
		!strings.HasPrefix(st.Error, "gave up after 3 attempts") {
		t.Errorf("ended %v at +%v", st, now.Sub(t0))
	}
}

func TestTerminateStale(t *testing.T) {
	c := Control{Op: OpTerminate, Round: 3}
	for _, tc := range []struct {
		round uint64
		hold  string
		state messages.TaskState
		want  bool
	}{
		{2, "", running, false},              // an incarnation before the terminate's round: terminate it
		{3, "", running, true},               // started again in its round: not this terminate's
		{4, "", retrying, true},              // and in a later one
		{3, holdTerminated, retrying, false}, // held: answered as terminated
		{3, "", messages.TaskState_TASK_STATE_COMPLETED, false},
	} {
		st := &messages.TaskStatus{JobRound: tc.round, JobHold: tc.hold, State: tc.state}
		if got := terminateStale(c, st); got != tc.want {
			t.Errorf("round %d hold %q %v: stale %v, want %v", tc.round, tc.hold, tc.state, got, tc.want)
		}
	}
	if terminateStale(Control{Op: OpTerminate}, &messages.TaskStatus{JobRound: 9}) {
		t.Error("a terminate without a round (by hand) is never stale")
	}
}
