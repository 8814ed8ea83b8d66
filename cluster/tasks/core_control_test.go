package tasks

import (
	"errors"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestRestartVerdict(t *testing.T) {
	st := &messages.TaskStatus{State: running, LastRestart: "r1"}
	cases := []struct {
		name   string
		c      Control
		active bool
		apply  bool
		err    error
	}{
		{name: "no actor holds the task", c: Control{Op: OpRestart, RequestID: "r2"}, err: errNotActive},
		{name: "the same request again: applied already", c: Control{Op: OpRestart, RequestID: "r1"}, active: true},
		{name: "a new request", c: Control{Op: OpRestart, RequestID: "r2"}, active: true, apply: true},
		{name: "no request id: always applied", c: Control{Op: OpRestart}, active: true, apply: true},
	}
	for _, c := range cases {
		apply, err := restartVerdict(c.c, st, c.active)
		if apply != c.apply || !errors.Is(err, c.err) || (c.err == nil && err != nil) {
			t.Errorf("%s: apply %v err %v, want %v %v", c.name, apply, err, c.apply, c.err)
		}
	}
}

func TestPlanRestarted(t *testing.T) {
	if p := planRestarted(&messages.TaskStatus{State: retrying}, t0); p.step != stepSchedule || !p.at.Equal(t0) {
		t.Errorf("retrying after a restart: %+v, want due at once", p)
	}
	if p := planRestarted(&messages.TaskStatus{State: pending}, t0); p.step != stepNone {
		t.Errorf("pending after a restart: %+v, want nothing", p)
	}
}

func TestRouteControl(t *testing.T) {
	cases := []struct {
		name  string
		c     Control
		st    *messages.TaskStatus
		route controlRoute
		err   error
	}{
		{name: "cancel of a task owned here", c: Control{Op: OpCancel, ID: "t1"}, st: &messages.TaskStatus{State: retrying, Owner: "n1"}, route: routeActor},
		{name: "restart of a task owned elsewhere", c: Control{Op: OpRestart, ID: "t1"}, st: &messages.TaskStatus{State: running, Owner: "n2"}, route: routeOwner},
		{name: "cancel of a finished task", c: Control{Op: OpCancel, ID: "t1"}, st: &messages.TaskStatus{State: messages.TaskState_TASK_STATE_COMPLETED, Owner: "n1"}, err: api.ErrFailedPrecondition},
		{name: "a restart retried after the task finished", c: Control{Op: OpRestart, ID: "t1", RequestID: "r1"},
			st: &messages.TaskStatus{State: messages.TaskState_TASK_STATE_COMPLETED, Owner: "n2", LastRestart: "r1"}, route: routeDone},
		{name: "a new restart of a finished task", c: Control{Op: OpRestart, ID: "t1", RequestID: "r2"},
			st: &messages.TaskStatus{State: failed, Owner: "n1", LastRestart: "r1"}, err: api.ErrFailedPrecondition},
	}
	for _, c := range cases {
		route, err := routeControl(c.c, c.st, "n1")
		if !errors.Is(err, c.err) || (c.err == nil && err != nil) || (err == nil && route != c.route) {
			t.Errorf("%s: route %d err %v, want %d %v", c.name, route, err, c.route, c.err)
		}
	}
}

func TestControlStatus(t *testing.T) {
	st := coreTask(retrying, 2, 3).Status
	st.NextAttemptAt = timestamppb.New(t0.Add(time.Hour))
	controlStatus(st, Control{Op: OpCancel, Reason: "no longer needed"}, t0, "n1")
	if st.State != messages.TaskState_TASK_STATE_CANCELLED || st.Error != "no longer needed" || st.NextAttemptAt != nil || !st.FinishedAt.AsTime().Equal(t0) {
		t.Errorf("cancelled during the backoff: %v", st)
	}
	st = coreTask(retrying, 2, 3).Status
	controlStatus(st, Control{Op: OpRestart, Reason: "job restart", RequestID: "r9"}, t0, "n1")
	if st.State != retrying || !st.NextAttemptAt.AsTime().Equal(t0) || st.LastRestart != "r9" || st.BudgetBase != 2 || len(st.Errors) != 0 {
		t.Errorf("restarted during the backoff: %v", st)
	}
}

// TestJobStartAppliedOncePerRound: a job's start of a round, applied, is
// applied already when it comes again, even once the attempt it began has
// exited and the task waits, held, for its job (the double start seen when
// a survivor resumed a dead owner's restart); only a terminate of that
// round applied after it makes the round's start run the task again.
func TestJobStartAppliedOncePerRound(t *testing.T) {
	start := Control{Op: OpRestart, ID: "t1", Round: 1, RequestID: jobStartID("j1", 1), Reason: "job j1 started it again"}
	st := &messages.TaskStatus{State: retrying, Owner: "n2", JobHold: holdFailed, JobRound: 0}
	if start.applied(st) {
		t.Fatalf("a first start of round 1 is applied already: %v", st)
	}
	controlStatus(st, start, t0, "n2")
	startStatus(st, t0, nil)
	holdStatus(st, holdFailed, "failed again", nil, nil, t0) // its attempt of round 1 failed for good
	if !start.applied(st) {
		t.Fatalf("the start of round 1 sent again after its attempt failed would run the task twice: %v", st)
	}
	if route, err := routeControl(start, st, "n2"); err != nil || route != routeDone {
		t.Fatalf("the start of round 1 sent again: route %d, %v; want done", route, err)
	}
	resumed := proto.Clone(st).(*messages.TaskStatus)
	terminateStatus(resumed, Control{Op: OpTerminate, ID: "t1", Round: 1}, false, t0, "n2")
	if start.applied(resumed) {
		t.Fatalf("terminated again in round 1 (an owner resuming it), the round's start is applied already: %v", resumed)
	}
	terminateStatus(st, Control{Op: OpTerminate, ID: "t1", Round: 2}, false, t0, "n2")
	if !start.applied(st) {
		t.Fatalf("a terminate of a later round undid the start of round 1: %v", st)
	}
	// A start of round 1 still on its way when the job's shutdown (round
	// 2) terminated the task held is stale: it must not run the task under
	// a job that ends.
	held := &messages.TaskStatus{State: retrying, Owner: "n2", JobHold: holdTerminated, JobRound: 0}
	terminateStatus(held, Control{Op: OpTerminate, ID: "t1", Round: 2}, false, t0, "n2")
	if !start.applied(held) {
		t.Fatalf("a start of round 1 overtaken by the terminate of round 2 would still run the task: %v", held)
	}
	if later := (Control{Op: OpRestart, ID: "t1", Round: 2, RequestID: jobStartID("j1", 2)}); later.applied(held) {
		t.Fatalf("the start of round 2, after its terminate, is taken as applied: %v", held)
	}
	if !isJobStartOf(jobStartID("j1", 11), 11) || isJobStartOf(jobStartID("j1", 11), 1) || isJobStartOf("r1", 1) {
		t.Fatal("isJobStartOf does not tell the round of a job's start")
	}
}
