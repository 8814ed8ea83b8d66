package tasks

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DefaultJobShutdown is how long a task its job terminates may take to
// exit before its attempt is abandoned, when the job declares none: OTP's
// default for workers.
const DefaultJobShutdown = 5 * time.Second

// Why a task waits for its job (TaskStatus.job_hold).
const (
	holdTerminated  = "terminated"
	holdFailed      = "failed"
	holdFailedFinal = "failed_final"
	holdCompleted   = "completed"
)

// jobConfigOf is the supervisor declaration of a job record.
func jobConfigOf(j *messages.Job) (supervisor.JobConfig, error) {
	strategy, err := supervisor.ParseStrategy(cmp.Or(j.GetStrategy(), supervisor.OneForOne.String()))
	if err != nil {
		return supervisor.JobConfig{}, err
	}
	auto, err := supervisor.ParseAutoShutdown(j.GetAutoShutdown())
	if err != nil {
		return supervisor.JobConfig{}, err
	}
	shutdown := DefaultJobShutdown
	if d := j.GetShutdown(); d != nil {
		shutdown = d.AsDuration()
	}
	return supervisor.JobConfig{
		ID:           j.GetId(),
		Strategy:     strategy,
		Budget:       supervisor.Budget{MaxRestarts: int(j.GetMaxRestarts()), Period: j.GetRestartPeriod().AsDuration()},
		Shutdown:     shutdown,
		AutoShutdown: auto,
		HasParent:    j.GetParent() != "",
	}, nil
}

// restartTypeOf parses a child's restart type; "" is transient.
func restartTypeOf(s string) supervisor.RestartType {
	if r, err := supervisor.ParseRestartType(s); err == nil && s != "" {
		return r
	}
	return supervisor.Transient
}

// taskChild is a task as a child of its job.
func taskChild(t *messages.Task) supervisor.JobChild {
	spec := t.GetSpec()
	return supervisor.JobChild{ID: spec.GetId(), Stage: int(spec.GetJobStage()), Restart: restartTypeOf(spec.GetRestart()),
		Significant: spec.GetSignificant(), Round: t.GetStatus().GetJobRound()}
}

// jobChild is a job as a child of its parent, in the incarnation its
// record shows (the round of its parent's start of it).
func jobChild(j *messages.Job) supervisor.JobChild {
	return supervisor.JobChild{ID: j.GetId(), Job: true, Stage: int(j.GetStage()), Restart: restartTypeOf(j.GetRestart()),
		Significant: j.GetSignificant(), Round: j.GetRun().GetParentRound()}
}

// taskExit is the exit a task's stored status shows, if it has exited:
// held for its job, or finished.
func taskExit(t *messages.Task) (supervisor.JobEvent, bool) {
	st := t.GetStatus()
	ev := supervisor.JobEvent{Kind: supervisor.EventExited, Child: taskChild(t)}
	switch {
	case st.GetJobHold() == holdTerminated:
		ev.Exit = supervisor.ExitTerminated
	case st.GetJobHold() == holdFailed || st.GetJobHold() == holdFailedFinal:
		ev.Exit, ev.Failure = supervisor.ExitFailed, heldFailure(st)
	case st.GetJobHold() == holdCompleted || st.GetState() == messages.TaskState_TASK_STATE_COMPLETED:
		ev.Exit = supervisor.ExitCompleted
	case st.GetState() == messages.TaskState_TASK_STATE_FAILED:
		ev.Exit, ev.Failure = supervisor.ExitFailed, supervisor.Failure{Cause: supervisor.CauseError, Err: errPermanentJob(st.GetError())}
	case st.GetState() == messages.TaskState_TASK_STATE_CANCELLED:
		ev.Exit = supervisor.ExitCancelled
	default:
		return supervisor.JobEvent{}, false
	}
	return ev, true
}

// heldFailure is the failure a task held for its job failed with.
func heldFailure(st *messages.TaskStatus) supervisor.Failure {
	if st.GetJobHold() == holdFailedFinal {
		return supervisor.Failure{Cause: supervisor.CauseError, Err: errPermanentJob(st.GetError())}
	}
	return supervisor.Failure{Cause: supervisor.CauseError, Err: errors.New(st.GetError())}
}

// permanentJobErr is a failure no job restart can mend, as a task held for
// its job records it.
type permanentJobErr struct{ msg string }

func (e permanentJobErr) Error() string   { return e.msg }
func (e permanentJobErr) Permanent() bool { return true }

func errPermanentJob(msg string) error { return permanentJobErr{msg} }

// reconcile is the pure rule that brings a job machine rebuilt from its
// record up to date with its children as stored: children it does not
// know join it, and exits it did not hear of (a report lost with its
// member) are reported.
func reconcile(m *supervisor.JobMachine, tasks []store.Record, jobs []store.JobRecord) []supervisor.JobEvent {
	st := m.State()
	known := map[string]supervisor.JobChild{}
	for _, c := range st.Children {
		known[c.ID] = c
	}
	terminating := map[string]bool{}
	for _, t := range st.Terminate {
		terminating[t.ID] = true
	}
	// Every child joins before any exit is decided: an exit may end the
	// job, which must then terminate them all. (A job that failed or was
	// stopped takes no child: one unknown to it that exited is refused by
	// its exit alone.)
	takes := st.Phase != supervisor.PhaseDone || st.End == supervisor.EndCompleted
	var out, exits []supervisor.JobEvent
	for _, r := range tasks {
		ev, exited := taskExit(r.Task)
		c, ok := known[r.Task.GetSpec().GetId()]
		switch {
		case !ok && !exited:
			out = append(out, supervisor.JobEvent{Kind: supervisor.EventAdded, Child: taskChild(r.Task)})
		case !exited:
		case ok && terminating[c.ID]:
			// The restart or shutdown in progress terminated it (or it
			// exited by itself before its turn): the answer it waits for.
			ev.Exit, ev.Child.Round = supervisor.ExitTerminated, st.Round
			exits = append(exits, ev)
		case !ok:
			// It joined (lazily: no write said so) and exited. It joins
			// with the others first, as its exit alone would join it: the
			// job must not end with the exit of each such child and begin
			// again with the next (a fan-out's thousand children, each a
			// write, and the job's supervisor quitting between them).
			if takes {
				out = append(out, supervisor.JobEvent{Kind: supervisor.EventAdded, Child: taskChild(r.Task)})
			}
			exits = append(exits, ev)
		case c.Status == supervisor.ChildRunning:
			exits = append(exits, ev)
		}
	}
	for _, r := range jobs {
		if _, ok := known[r.Job.GetId()]; !ok && jobRunEnd(r.Job) == supervisor.EndNone {
			out = append(out, supervisor.JobEvent{Kind: supervisor.EventAdded, Child: jobChild(r.Job)})
		}
	}
	return append(out, exits...)
}

// jobRunEnd is how a job's record says it ended (EndNone: it runs).
func jobRunEnd(j *messages.Job) supervisor.JobEnd {
	end, err := supervisor.ParseJobEnd(j.GetRun().GetEnd())
	if err != nil {
		return supervisor.EndNone
	}
	return end
}

// jobStateOf is the supervisor state a job's record holds.
func jobStateOf(run *messages.JobRun) (supervisor.JobState, error) {
	var st supervisor.JobState
	var err error
	var errs []error
	st.Phase, err = supervisor.ParseJobPhase(run.GetPhase())
	errs = append(errs, err)
	st.End, err = supervisor.ParseJobEnd(run.GetEnd())
	errs = append(errs, err)
	st.Cause, st.Round, st.Start, st.RestartCount = run.GetCause(), run.GetRound(), run.GetStart(), int(run.GetRestartCount())
	st.Unswept, st.ParentRound = run.GetUnswept(), run.GetParentRound()
	st.Final, err = supervisor.ParseFinal(run.GetFinal())
	errs = append(errs, err)
	for _, c := range run.GetChildren() {
		status, err := supervisor.ParseChildStatus(c.GetStatus())
		errs = append(errs, err)
		st.Children = append(st.Children, supervisor.JobChild{ID: c.GetId(), Job: c.GetJob(), Stage: int(c.GetStage()),
			Restart: restartTypeOf(c.GetRestart()), Significant: c.GetSignificant(), Status: status, Restarts: int(c.GetRestarts()), Round: c.GetRound()})
	}
	for _, t := range run.GetTerminate() {
		final, err := supervisor.ParseFinal(t.GetFinal())
		errs = append(errs, err)
		st.Terminate = append(st.Terminate, supervisor.Termination{ID: t.GetId(), Final: final, Reason: t.GetReason()})
	}
	for _, at := range run.GetRestartTimes() {
		st.RestartTimes = append(st.RestartTimes, at.AsTime())
	}
	if err := errors.Join(errs...); err != nil {
		return supervisor.JobState{}, fmt.Errorf("job run: %w", err)
	}
	return st, nil
}

// jobRunOf is a job supervisor's state as its record holds it, claimed by
// owner at epoch.
func jobRunOf(st supervisor.JobState, owner string, epoch uint64) *messages.JobRun {
	run := &messages.JobRun{Owner: owner, Epoch: epoch, Phase: st.Phase.String(), End: st.End.String(), Cause: st.Cause,
		Round: st.Round, Start: st.Start, RestartCount: int32(st.RestartCount), Unswept: st.Unswept, ParentRound: st.ParentRound}
	if st.Unswept {
		run.Final = st.Final.String()
	}
	for _, c := range st.Children {
		run.Children = append(run.Children, &messages.JobChildRun{Id: c.ID, Job: c.Job, Stage: int32(c.Stage), Restart: c.Restart.String(),
			Significant: c.Significant, Status: c.Status.String(), Restarts: int32(c.Restarts), Round: c.Round})
	}
	for _, t := range st.Terminate {
		run.Terminate = append(run.Terminate, &messages.JobTermination{Id: t.ID, Final: t.Final.String(), Reason: t.Reason})
	}
	for _, at := range st.RestartTimes {
		run.RestartTimes = append(run.RestartTimes, timestamppb.New(at))
	}
	return run
}

// jobEventMsg is ev for the wire (JobPeers.ReportJob).
func jobEventMsg(job string, ev supervisor.JobEvent) *messages.JobEvent {
	c := ev.Child
	msg := &messages.JobEvent{Job: job, Kind: ev.Kind.String(), Exit: ev.Exit.String(), Reason: ev.Reason, Final: ev.Final.String(),
		Child: &messages.JobChildRun{Id: c.ID, Job: c.Job, Stage: int32(c.Stage), Restart: c.Restart.String(), Significant: c.Significant, Round: c.Round}}
	if ev.Kind == supervisor.EventExited && ev.Exit == supervisor.ExitFailed {
		msg.Cause, msg.Error, msg.Permanent = ev.Failure.Cause.String(), errText(ev.Failure.Err), supervisor.IsPermanent(ev.Failure.Err)
	}
	return msg
}

// jobEventOf is the event a JobEvent from another member carries.
func jobEventOf(msg *messages.JobEvent) (supervisor.JobEvent, error) {
	kind, err := parseName(msg.GetKind(), "event", supervisor.EventAdded, supervisor.EventStart)
	if err != nil {
		return supervisor.JobEvent{}, err
	}
	exit, err := parseName(msg.GetExit(), "exit", supervisor.ExitCompleted, supervisor.ExitTerminated)
	if err != nil {
		return supervisor.JobEvent{}, err
	}
	final, err := supervisor.ParseFinal(msg.GetFinal())
	if err != nil {
		return supervisor.JobEvent{}, err
	}
	c := msg.GetChild()
	ev := supervisor.JobEvent{Kind: kind, Exit: exit, Reason: msg.GetReason(), Final: final,
		Child: supervisor.JobChild{ID: c.GetId(), Job: c.GetJob(), Stage: int(c.GetStage()), Restart: restartTypeOf(c.GetRestart()), Significant: c.GetSignificant(), Round: c.GetRound()}}
	if exit == supervisor.ExitFailed {
		cause, _ := supervisor.ParseCause(msg.GetCause())
		err := errors.New(msg.GetError())
		if msg.GetPermanent() {
			err = errPermanentJob(msg.GetError())
		}
		ev.Failure = supervisor.Failure{Cause: cause, Err: err}
	}
	return ev, nil
}

// parseName finds s among the names of the values from first to last
// (an enum whose String gives them).
func parseName[E interface {
	~int
	String() string
}](s, what string, first, last E) (E, error) {
	for v := first; v <= last; v++ {
		if v.String() == s {
			return v, nil
		}
	}
	return first, fmt.Errorf("unknown %s %q", what, s)
}
