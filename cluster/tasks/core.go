package tasks

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The task core: every decision a task's actors make, as pure functions of
// the task as stored, the event and now (the injected clock). No store, no
// actor context, no timers, no goroutines: the task actor (task_actor.go,
// running its attempts: attempt.go) is a shell that receives an event,
// asks the core, and carries out its plan (write, run, arm a timer, stop).
//
//	event                              decision (function)
//	task loaded or adopted             stop (finished, not ours) | run the attempt
//	                                   created here | start | count the previous
//	                                   owner's attempt lost | wait for the
//	                                   backoff already decided (planLoad); the
//	                                   restart budget is replayed (replayRestarts)
//	backoff timer fires                ignore a stale or drained timer (timerDue);
//	                                   start, or fail if the deadline passed
//	                                   during the backoff (planDue); the timer
//	                                   is an entry in the root actor's heap
//	                                   (wakeups.go), and a task that only
//	                                   waits for it holds no actor: its next
//	                                   one loads it (planLoad) when it fires
//	                                   or a control comes (root_idle.go)
//	attempt ends with a result         commit, unless it is a stale attempt's
//	                                   (isCurrent); see finishStatus
//	attempt fails (error, panic,       with the supervisor's decision on it
//	hung, deadline, member lost)       (supervisor.Tree.Failed): retry after
//	                                   backoff | start at once (member lost) |
//	                                   fail for good (permanent error, deadline,
//	                                   budget spent, no time left) (planFailure);
//	                                   a task of a job is held for its job
//	                                   instead (holdStatus) and reports to it
//	cancel                             finish cancelled (finishStatus)
//	terminate (its job)                held for the job, or made final, once the
//	                                   attempt exited or was abandoned
//	                                   (terminateStatus)
//	restart (job or request)           not active here | applied already
//	                                   (request id) | apply (restartVerdict,
//	                                   restartStatus, planRestarted)
//	control at the manager             applied already | refused: finished |
//	                                   this member's actor | the owner; with
//	                                   no actor, written here (routeControl,
//	                                   controlStatus)
//	write conflicts                    it landed (answer lost) | claim lost |
//	                                   finished elsewhere | merge and try
//	                                   again (conflictVerdict)
//	write fails                        leave quietly | stop (record too
//	                                   large) | crash, reload (writeVerdictOf)
//	watchdog tick                      deadline passed | hung (attempt or
//	                                   heartbeat time-out) | next check
//	                                   (attemptCheck)
//
// Each piece of mutable state has one owner: the task's record and its
// supervision tree (restart budget, backoff) and the running attempt's
// watchdog clock belong to its task actor, the wake-ups of waiting
// tasks to the root actor; the core only reads them and returns what
// changes.

// step is what a task actor does after a decision of the core.
type step int

const (
	// stepNone: nothing to do until the next event.
	stepNone step = iota
	// stepStop: stop without writing: the task is not this member's to run.
	stepStop
	// stepRun: start the attempt the store already counts (a task created
	// here, claimed and running), without a write.
	stepRun
	// stepStart: write the task running with one attempt more (recording
	// entry, the previous attempt's failure, if set), then start it.
	stepStart
	// stepRetry: write the task retrying, due at at, recording entry, and
	// arm the backoff timer.
	stepRetry
	// stepSchedule: arm the backoff timer for at; nothing to write.
	stepSchedule
	// stepFinish: write the terminal state with reason (and entry), then
	// stop.
	stepFinish
	// stepLost: the attempt the store shows running died with its member:
	// it is decided as a failed attempt (failure, attempt).
	stepLost
	// stepReport: the task waits for its job (held): tell the job's
	// supervisor again how it exited, then stop.
	stepReport
)

var stepNames = [...]string{"none", "stop", "run", "start", "retry", "schedule", "finish", "lost", "report"}

// String names the step, for logs and test failures.
func (s step) String() string {
	if int(s) < len(stepNames) {
		return stepNames[s]
	}
	return fmt.Sprintf("step(%d)", int(s))
}

// plan is a decision of the core: a step and what its write records.
type plan struct {
	step step
	// state is the terminal state of stepFinish.
	state messages.TaskState
	// reason is the task's error for stepFinish, why for stepStop.
	reason string
	// entry is the failed attempt to record in the step's write.
	entry *messages.AttemptError
	// at is when the next attempt is due (stepRetry, stepSchedule) or
	// starts (stepStart).
	at time.Time
	// failure and attempt are the failed attempt (stepLost).
	failure supervisor.Failure
	attempt int
	// unmendable: the failure of stepFinish is one no restart can mend (a
	// permanent error, the deadline): its job fails at once.
	unmendable bool
}

// failedFor is a terminal failure with its reason and record.
func failedFor(reason string, entry *messages.AttemptError) plan {
	return plan{step: stepFinish, state: messages.TaskState_TASK_STATE_FAILED, reason: reason, entry: entry}
}

// planLoad decides what the actor of a task it just loaded does: member
// is this member, adopt says the task may be claimed from another owner
// (which left), born that this member created it claimed and running.
func planLoad(st *messages.TaskStatus, member string, adopt, born bool, now time.Time) plan {
	switch {
	case store.Terminal(st.GetState()):
		return plan{step: stepStop}
	case st.GetOwner() != member && !adopt:
		return plan{step: stepStop, reason: "task owned by another member; not taking it"}
	case st.GetJobHold() != "":
		// It waits for its job, which may not have heard how it exited
		// (the report was lost with a member): tell it again.
		return plan{step: stepReport}
	case born && st.GetState() == messages.TaskState_TASK_STATE_RUNNING && st.GetOwner() == member && st.GetAttempts() == 1 && st.GetEpoch() == 1:
		return plan{step: stepRun} // created claimed and running: attempt 1 is due
	}
	switch st.GetState() {
	case messages.TaskState_TASK_STATE_PENDING:
		if at := st.GetNextAttemptAt(); at != nil && at.AsTime().After(now) {
			return plan{step: stepSchedule, at: at.AsTime()} // submitted to start later
		}
		return plan{step: stepStart, at: now}
	case messages.TaskState_TASK_STATE_RUNNING:
		// The attempt in flight died with its member (or with this node's
		// previous process): it counts as failed.
		return plan{step: stepLost, attempt: int(st.GetAttempts()), failure: supervisor.Failure{
			Cause: supervisor.CauseMemberLost,
			Err:   fmt.Errorf("attempt interrupted: member %s stopped while running it", st.GetOwner()),
			At:    now,
		}}
	default: // retrying: its next attempt was decided already
		return plan{step: stepSchedule, at: st.GetNextAttemptAt().AsTime()}
	}
}

// replayRestarts returns the restarts that restore a loaded task's retry
// budget and backoff (supervisor.Tree.Replay): every attempt after the
// first was a restart, and a retrying task's next restart was already
// decided. Attempts before the last job restart do not count: it gave the
// task a fresh budget. A restart with no recorded failure counts at now.
func replayRestarts(st *messages.TaskStatus, now time.Time) []time.Time {
	restarts := int(st.GetAttempts()-st.GetBudgetBase()) - 1
	if st.GetState() == messages.TaskState_TASK_STATE_RETRYING {
		restarts++
	}
	var times []time.Time
	for _, e := range st.GetErrors() {
		if e.GetAttempt() > st.GetBudgetBase() && len(times) < restarts {
			times = append(times, e.GetAt().AsTime())
		}
	}
	for len(times) < restarts {
		times = append(times, now)
	}
	return times
}

// timerDue reports whether a backoff timer armed after attempt after still
// starts the next attempt: not if another attempt started meanwhile, one is
// running, or the member drains.
func timerDue(after int, st *messages.TaskStatus, running, draining bool) bool {
	return after == int(st.GetAttempts()) && !running && !draining
}

// planDue decides on an attempt that is due (at once, or its backoff is
// over): it starts, unless the task's deadline has passed (during the
// backoff, say). entry, if set, is the previous attempt's failure,
// recorded in the same write.
func planDue(st *messages.TaskStatus, now time.Time, entry *messages.AttemptError) plan {
	if dl := deadlineOf(st); !dl.IsZero() && !now.Before(dl) {
		p := failedFor(fmt.Sprintf("deadline exceeded before attempt %d could start", st.GetAttempts()+1), entry)
		p.unmendable = true
		return p
	}
	return plan{step: stepStart, at: now, entry: entry}
}

// planFailure decides on a failed attempt of t, given the supervisor's
// decision d on it (supervisor.Tree.Failed, which spends the budget and
// picks the backoff). member is this member; draining, that it starts no
// more attempts.
func planFailure(t *messages.Task, f supervisor.Failure, d supervisor.Decision, attempt int, now time.Time, draining bool, member string) plan {
	st := t.GetStatus()
	entry := attemptEntry(st, f, attempt, member)
	next := now.Add(d.Delay)
	restart := d.Directive == supervisor.Restart
	if dl := deadlineOf(st); restart && !draining && !dl.IsZero() && !next.Before(dl) {
		p := failedFor(fmt.Sprintf("deadline exceeded: no time left for attempt %d; last error: %s", attempt+1, describe(f)), entry)
		p.unmendable = true
		return p
	}
	switch {
	case restart && f.Cause == supervisor.CauseMemberLost && !draining:
		// The attempt died with its member, not through a fault of the
		// task: the next one starts at once, in the write that records the
		// loss (one write per adopted task at failover, not two). The
		// restart budget still counts it, and detecting a lost member takes
		// seconds, so a task that kills its members cannot loop fast.
		return planDue(st, now, entry)
	case restart:
		return plan{step: stepRetry, at: next, entry: entry}
	case supervisor.IsPermanent(f.Err):
		p := failedFor(fmt.Sprintf("permanent error on attempt %d: %s", attempt, describe(f)), entry)
		p.unmendable = true
		return p
	case f.Cause == supervisor.CauseDeadline:
		p := failedFor(fmt.Sprintf("deadline exceeded during attempt %d", attempt), entry)
		p.unmendable = true
		return p
	case d.Directive == supervisor.Escalate:
		return failedFor(gaveUp(t, f, attempt), entry)
	default:
		return failedFor(fmt.Sprintf("stopped after attempt %d: %s; last error: %s", attempt, d.Reason, describe(f)), entry)
	}
}

// attemptEntry is the record of a failed attempt. The attempt ran on the
// task's owner as last recorded: this member, or for an attempt lost with
// its member, that member (this one has not claimed the task yet).
func attemptEntry(st *messages.TaskStatus, f supervisor.Failure, attempt int, member string) *messages.AttemptError {
	return &messages.AttemptError{
		Attempt:   int32(attempt),
		Cause:     f.Cause.String(),
		Message:   errText(f.Err),
		Stack:     string(f.Stack),
		At:        timestamppb.New(f.At),
		Member:    cmp.Or(st.GetOwner(), member),
		StartedAt: st.GetStartedAt(),
	}
}

// gaveUp is the error of a task whose retry budget is spent. After a
// restart the budget counts from it: the message says so, with the count
// in all, so that it does not read "after 2 attempts" beside attempt 4.
func gaveUp(t *messages.Task, f supervisor.Failure, attempt int) string {
	base := int(t.GetStatus().GetBudgetBase())
	n, unit := attempt-base, "attempts"
	if n == 1 {
		unit = "attempt"
	}
	max := t.GetSpec().GetRetry().GetMaxAttempts()
	if base > 0 {
		return fmt.Sprintf("gave up after %d %s since its last restart (max_attempts %d; %d in all); last error: %s", n, unit, max, attempt, describe(f))
	}
	return fmt.Sprintf("gave up after %d %s (max_attempts %d); last error: %s", n, unit, max, describe(f))
}

// restartVerdict decides a restart request on the task actor: active says
// the actor runs the task (it loaded and supervises it). It returns apply
// false with nil for a restart applied already (the same request id).
func restartVerdict(c Control, st *messages.TaskStatus, active bool) (apply bool, err error) {
	switch {
	case !active:
		return false, errNotActive
	case c.applied(st):
		return false, nil // asked again: applied already
	}
	return true, nil
}

// controlRoute is where a control request (cancel, restart) goes.
type controlRoute int

const (
	// routeDone: a restart the task applied already (same request id):
	// answer with the task as it is.
	routeDone controlRoute = iota
	// routeActor: this member owns the task; its task actor carries the
	// request out (or, with no actor, a write here: controlStatus).
	routeActor
	// routeOwner: another member owns the task: forward the request to it,
	// or write it here if that member cannot be reached.
	routeOwner
)

// routeControl decides where c goes, given the task as stored and this
// member: a finished task takes no control (api.ErrFailedPrecondition),
// except the retry of a restart it applied.
func routeControl(c Control, st *messages.TaskStatus, member string) (controlRoute, error) {
	switch {
	case c.applied(st):
		return routeDone, nil
	case store.Terminal(st.GetState()):
		return routeDone, finishedErr(c.ID, st.GetState())
	case st.GetOwner() != member:
		return routeOwner, nil
	}
	return routeActor, nil
}

// finishedErr refuses a control of a finished task: a committed result
// never runs again, and a failure or cancel stands.
func finishedErr(id string, state messages.TaskState) error {
	return fmt.Errorf("%w: task %s is already %s", api.ErrFailedPrecondition, id, api.StateName(state))
}

// controlStatus is the status change c makes when written directly, with
// no task actor to carry it out (Manager.controlHere).
func controlStatus(st *messages.TaskStatus, c Control, now time.Time, member string) {
	switch c.Op {
	case OpRestart:
		restartStatus(st, now, c.Reason, member, c.RequestID)
		jobStartStatus(st, c)
		if c.Round > 0 && st.GetOwner() != member {
			// Its job starts it and its owner cannot be reached: the
			// job's member claims it and runs it, fencing the owner.
			claim(member)(&messages.Task{Status: st})
		}
	case OpTerminate:
		// No live actor runs it here: an attempt the store shows running
		// died with its member, or runs on one cut off, whose writes the
		// claim taken here fences.
		terminateStatus(st, c, false, now, member)
		if st.GetOwner() != member {
			claim(member)(&messages.Task{Status: st})
		}
	default:
		finishStatus(st, messages.TaskState_TASK_STATE_CANCELLED, c.Reason, nil, nil, now)
	}
}

// planRestarted is what follows a restart's write (restartStatus): a task
// it left retrying is due at once.
func planRestarted(st *messages.TaskStatus, now time.Time) plan {
	if st.GetState() == messages.TaskState_TASK_STATE_RETRYING {
		return plan{step: stepSchedule, at: now}
	}
	return plan{step: stepNone}
}

// isCurrent reports whether a result is the running attempt's: a late
// result of an attempt already stopped or superseded is dropped.
func isCurrent(attempt int, st *messages.TaskStatus, running bool) bool {
	return running && attempt == int(st.GetAttempts())
}

// startStatus is the status change that starts the next attempt, recording
// the previous one's failure (entry, if set).
func startStatus(st *messages.TaskStatus, now time.Time, entry *messages.AttemptError) {
	if entry != nil {
		st.Errors = append(st.Errors, entry)
	}
	st.State = messages.TaskState_TASK_STATE_RUNNING
	st.Attempts++
	st.StartedAt = timestamppb.New(now)
	st.NextAttemptAt = nil
	st.Progress, st.ProgressNote = 0, ""
	st.Waiting = ""
}

// retryStatus is the status change of a failed attempt retried at next.
func retryStatus(st *messages.TaskStatus, next time.Time, entry *messages.AttemptError) {
	st.State = messages.TaskState_TASK_STATE_RETRYING
	st.NextAttemptAt = timestamppb.New(next)
	st.Errors = append(st.Errors, entry)
}

// holdStatus is the status change of a task of a job that exited for
// good by itself: it fails (failed for good, with reason and entry) or
// completes (a permanent child, with result); either way it waits, not
// terminal, for its job to decide (hold says how it exited).
func holdStatus(st *messages.TaskStatus, hold, reason string, entry *messages.AttemptError, result []byte, now time.Time) {
	if entry != nil {
		st.Errors = append(st.Errors, entry)
	}
	st.State, st.JobHold, st.Error = messages.TaskState_TASK_STATE_RETRYING, hold, reason
	st.NextAttemptAt = nil
	st.FinishedAt = timestamppb.New(now)
	if hold == holdCompleted {
		st.Result, st.Progress = result, 1
	}
}

// holdOf says how a task of a job that finished by itself (state, its
// plan's unmendable) waits for its job; "" means it finishes as it is.
func holdOf(spec *messages.TaskSpec, state messages.TaskState, unmendable bool) string {
	switch {
	case spec.GetJobId() == "" || restartTypeOf(spec.GetRestart()) == supervisor.Temporary:
		return "" // a temporary child is never started again: it finishes
	case state == messages.TaskState_TASK_STATE_FAILED && unmendable:
		return holdFailedFinal
	case state == messages.TaskState_TASK_STATE_FAILED:
		return holdFailed
	case state == messages.TaskState_TASK_STATE_COMPLETED && restartTypeOf(spec.GetRestart()) == supervisor.Permanent:
		return holdCompleted
	}
	return ""
}

// terminateStatus is the status change of a task its job terminated
// (c, OpTerminate), once its attempt exited, or was abandoned after the
// job's shutdown time: the attempt in flight is recorded as interrupted,
// and the task waits for its job (c.Final none), or is cancelled or
// failed for good.
func terminateStatus(st *messages.TaskStatus, c Control, abandoned bool, now time.Time, member string) {
	if st.GetState() == messages.TaskState_TASK_STATE_RUNNING {
		cause := CauseJobTerminate
		if abandoned {
			cause = CauseAbandoned
		}
		st.Errors = append(st.Errors, &messages.AttemptError{Attempt: st.GetAttempts(), Cause: cause, Message: c.Reason,
			At: timestamppb.New(now), Member: cmp.Or(st.GetOwner(), member), StartedAt: st.GetStartedAt()})
	}
	switch c.Final {
	case supervisor.FinalCancelled:
		st.JobHold = ""
		finishStatus(st, messages.TaskState_TASK_STATE_CANCELLED, c.Reason, nil, nil, now)
	case supervisor.FinalFailed:
		reason := c.Reason
		if st.GetError() != "" && st.GetJobHold() != "" {
			reason = st.GetError() + "; " + reason
		}
		st.JobHold = ""
		finishStatus(st, messages.TaskState_TASK_STATE_FAILED, reason, nil, nil, now)
	default:
		if st.GetJobHold() == "" {
			st.JobHold = holdTerminated
		}
		if isJobStartOf(st.GetLastRestart(), c.Round) {
			// Terminated again in the round that started it (an owner
			// resuming the round): the round's start runs it again.
			st.LastRestart = ""
		}
		// A start of an earlier round still on its way is stale now
		// (Control.applied): the job's shutdown overtook it, and the task
		// must not run under a job that ends.
		st.JobRound = max(st.GetJobRound(), c.Round)
		st.State, st.NextAttemptAt = messages.TaskState_TASK_STATE_RETRYING, nil
		st.Progress, st.ProgressNote = 0, ""
	}
}

// terminateStale reports whether its job's terminate c (of round c.Round)
// comes after the job started the task again, in that round or a later one
// (the answer to an earlier terminate was lost and the terminate sent
// again, or it overtook its start): it must not touch the new incarnation,
// and is not answered as a terminate.
func terminateStale(c Control, st *messages.TaskStatus) bool {
	return c.Op == OpTerminate && c.Round > 0 && st.GetJobRound() >= c.Round && st.GetJobHold() == "" && !store.Terminal(st.GetState())
}

// jobStartStatus completes restartStatus for a start by the task's job
// (c.Round set): the task no longer waits for it, and its exits are
// reported with the round that started it.
func jobStartStatus(st *messages.TaskStatus, c Control) {
	if c.Round > 0 {
		st.JobHold, st.JobRound, st.Error, st.FinishedAt = "", c.Round, "", nil
	}
}

// finishStatus is the status change to a terminal state: completed with
// result (nil for a handler that returned none), failed or cancelled with
// reason. entry, if set, is the last
// attempt's failure.
func finishStatus(st *messages.TaskStatus, state messages.TaskState, reason string, entry *messages.AttemptError, result []byte, now time.Time) {
	st.State = state
	st.Error = reason
	st.FinishedAt = timestamppb.New(now)
	st.NextAttemptAt = nil
	st.Waiting = ""
	if entry != nil {
		st.Errors = append(st.Errors, entry)
	}
	if state == messages.TaskState_TASK_STATE_COMPLETED {
		st.Result = result
		st.Progress = 1
	}
}

// conflictVerdict decides on a write that conflicted, given the record read
// back (fresh), the status this actor last wrote (mine) and, if set, a
// write that may have landed with its answer lost (sent). landed: it did,
// and fresh is the task. Otherwise an error wrapping errLostClaim (another
// member claimed the task) or errFinished (another writer finished it)
// ends this actor's ownership; nil means merge: apply the change to fresh
// and write again.
func conflictVerdict(fresh store.Record, mine *messages.TaskStatus, sent *messages.Task) (landed bool, err error) {
	if sent != nil && proto.Equal(fresh.Task, sent) {
		return true, nil
	}
	cur := fresh.Task.GetStatus()
	if cur.GetEpoch() != mine.GetEpoch() || cur.GetOwner() != mine.GetOwner() {
		return false, fmt.Errorf("%w: now epoch %d owned by %s", errLostClaim, cur.GetEpoch(), cur.GetOwner())
	}
	if store.Terminal(cur.GetState()) {
		return false, fmt.Errorf("%w: %s", errFinished, cur.GetState())
	}
	return false, nil
}

// writeVerdict is what a task actor does after a write that did not land.
type writeVerdict int

const (
	// writeLeave: the task is no longer this actor's (claim lost, finished
	// elsewhere, member fenced, first write refused): stop quietly.
	writeLeave writeVerdict = iota
	// writeStuck: no write of the record can ever land (too large):
	// restarting would only loop, so stop.
	writeStuck
	// writeCrash: the store failed (unreachable): fail the actor; its
	// supervisor restarts it, which reloads the task.
	writeCrash
)

// writeVerdictOf classifies the error of a write that did not land.
func writeVerdictOf(err error) writeVerdict {
	switch {
	case errors.Is(err, errLostClaim), errors.Is(err, errFinished), errors.Is(err, errFenced), errors.Is(err, errFirstWrite):
		return writeLeave
	case errors.Is(err, errRecordTooLarge):
		return writeStuck
	}
	return writeCrash
}

// attemptCheck applies the task's deadline (zero: none) and the hung-
// attempt rule (the watchdog's attempt and heartbeat time-outs) to a
// running attempt: the failure that ends it now, if any, and when to check
// again (zero: never).
func attemptCheck(deadline time.Time, wd supervisor.Watchdog, started, lastBeat, now time.Time) (*supervisor.Failure, time.Time) {
	if !deadline.IsZero() && !now.Before(deadline) {
		return &supervisor.Failure{Cause: supervisor.CauseDeadline, Err: fmt.Errorf("task deadline %s passed during attempt", deadline.Format(time.RFC3339Nano)), At: now}, time.Time{}
	}
	cause, expired, next := wd.Check(started, lastBeat, now)
	if expired {
		var err error
		switch cause {
		case supervisor.CauseHeartbeatTimeout:
			err = fmt.Errorf("no heartbeat for %s (heartbeat time-out)", wd.HeartbeatTimeout)
		default:
			err = fmt.Errorf("attempt ran longer than %s (attempt time-out)", wd.AttemptTimeout)
		}
		return &supervisor.Failure{Cause: cause, Err: err, At: now}, time.Time{}
	}
	if !deadline.IsZero() && (next.IsZero() || deadline.Before(next)) {
		next = deadline
	}
	return nil, next
}

// handlerFailure is the failure of a handler that returned err (a
// recovered panic is a *supervisor.PanicError, with its stack).
func handlerFailure(err error, now time.Time) supervisor.Failure {
	f := supervisor.Failure{Cause: supervisor.CauseError, Err: err, At: now}
	if p, ok := err.(*supervisor.PanicError); ok {
		f.Cause, f.Stack = supervisor.CausePanic, p.Stack
	}
	return f
}

// deadlineOf is the task's schedule-to-close deadline; zero if none.
func deadlineOf(st *messages.TaskStatus) time.Time {
	if d := st.GetDeadline(); d != nil {
		return d.AsTime()
	}
	return time.Time{}
}

// describe is a failure as the task's error quotes it.
func describe(f supervisor.Failure) string { return f.Cause.String() + ": " + errText(f.Err) }

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
