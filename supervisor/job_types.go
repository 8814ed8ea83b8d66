package supervisor

import (
	"fmt"
	"math"
	"time"
)

// AutoShutdown says when a job ends by itself after significant children
// exit, with OTP's meanings.
type AutoShutdown int

const (
	// AutoNever: the exits of significant children never end the job.
	AutoNever AutoShutdown = iota
	// AutoAnySignificant: the job shuts down once any significant child
	// has exited for good.
	AutoAnySignificant
	// AutoAllSignificant: the job shuts down once every significant child
	// has exited for good.
	AutoAllSignificant
)

var autoShutdownNames = []string{"never", "any_significant", "all_significant"}

func (a AutoShutdown) String() string { return enumString(autoShutdownNames, "AutoShutdown", int(a)) }

// ParseAutoShutdown parses the names String returns; "" is AutoNever.
func ParseAutoShutdown(s string) (AutoShutdown, error) {
	return parseOrZero[AutoShutdown](autoShutdownNames, ErrUnknownAutoShutdown, s)
}

// parseOrZero parses one of names into its index, "" into 0.
func parseOrZero[E ~int](names []string, sentinel error, s string) (E, error) {
	if s == "" {
		return 0, nil
	}
	v, err := parseEnum(names, sentinel, s)
	return E(v), err
}

// JobPhase is what a job supervisor is doing.
type JobPhase int

const (
	// PhaseRunning: the children run; the supervisor waits for exits.
	PhaseRunning JobPhase = iota
	// PhaseRestarting: a restart is in progress: the affected children are
	// terminated one by one in reverse start order, then started one by
	// one in start order.
	PhaseRestarting
	// PhaseShuttingDown: the job gave up, was stopped or shuts down by
	// itself: every child is terminated in reverse start order.
	PhaseShuttingDown
	// PhaseDone: the job has ended (JobState.End says how).
	PhaseDone
)

var jobPhaseNames = []string{"running", "restarting", "shutting_down", "done"}

func (p JobPhase) String() string { return enumString(jobPhaseNames, "JobPhase", int(p)) }

// ParseJobPhase parses the names String returns; "" is PhaseRunning.
func ParseJobPhase(s string) (JobPhase, error) {
	return parseOrZero[JobPhase](jobPhaseNames, ErrInvalidJobState, s)
}

// JobEnd is how a job ended.
type JobEnd int

const (
	// EndNone: the job has not ended.
	EndNone JobEnd = iota
	// EndCompleted: every child exited normally, or a significant child's
	// exit shut the job down (auto_shutdown).
	EndCompleted
	// EndFailed: the job gave up (budget spent, or a failure no restart
	// can mend).
	EndFailed
	// EndStopped: the job was stopped by request (or by its parent).
	EndStopped
)

var jobEndNames = []string{"", "completed", "failed", "stopped"}

func (e JobEnd) String() string { return enumString(jobEndNames, "JobEnd", int(e)) }

// ParseJobEnd parses the names String returns.
func ParseJobEnd(s string) (JobEnd, error) {
	return parseOrZero[JobEnd](jobEndNames, ErrInvalidJobState, s)
}

// ChildStatus is where a job's child stands, as its supervisor knows it.
type ChildStatus int

const (
	// ChildRunning: started and not known to have exited (a task pending,
	// running or retrying; a child job running).
	ChildRunning ChildStatus = iota
	// ChildTerminating: the supervisor asked it to terminate and waits
	// for its exit.
	ChildTerminating
	// ChildStopped: it has exited and waits, not terminal, until the
	// supervisor starts it again or finalizes it.
	ChildStopped
	// ChildCompleted: it exited normally and is not restarted.
	ChildCompleted
	// ChildFailed: it failed, and the job failed with it.
	ChildFailed
	// ChildCancelled: it was cancelled or stopped for good.
	ChildCancelled
	// ChildGone: a temporary child that exited; it is never restarted.
	ChildGone
)

var childStatusNames = []string{"running", "terminating", "stopped", "completed", "failed", "cancelled", "gone"}

func (s ChildStatus) String() string { return enumString(childStatusNames, "ChildStatus", int(s)) }

// ParseChildStatus parses the names String returns ("" is running).
func ParseChildStatus(s string) (ChildStatus, error) {
	return parseOrZero[ChildStatus](childStatusNames, ErrInvalidJobState, s)
}

// live reports whether a child in status s may still run: it counts for the
// job's end and a shutdown terminates it.
func (s ChildStatus) live() bool {
	return s == ChildRunning || s == ChildTerminating || s == ChildStopped
}

// Final is what a terminated child becomes once it has exited.
type Final int

const (
	// FinalNone: it waits, stopped, until the supervisor starts it again.
	FinalNone Final = iota
	// FinalCancelled: it is cancelled for good.
	FinalCancelled
	// FinalFailed: it is marked failed (the child whose failure failed the
	// job).
	FinalFailed
)

var finalNames = []string{"none", "cancelled", "failed"}

func (f Final) String() string { return enumString(finalNames, "Final", int(f)) }

// ParseFinal parses the names String returns; "" is FinalNone.
func ParseFinal(s string) (Final, error) {
	return parseOrZero[Final](finalNames, ErrInvalidJobState, s)
}

// JobConfig is a job supervisor's declaration.
type JobConfig struct {
	// ID names the job, for reasons and causes.
	ID       string
	Strategy Strategy
	// Budget is the job's restart intensity; the zero Budget allows no
	// restart (Granary's default for jobs; OTP's is 1 in 5 s).
	Budget Budget
	// Shutdown is how long a terminated task child may take to exit
	// before its attempt is abandoned. Child jobs take as long as their own
	// subtree takes, as OTP's supervisors (shutdown infinity).
	Shutdown     time.Duration
	AutoShutdown AutoShutdown
	// HasParent: the job is another job's child and reports its end to it.
	HasParent bool
}

// Validate reports whether c is usable.
func (c JobConfig) Validate() error {
	if !c.Strategy.valid() {
		return fmt.Errorf("%w: %d", ErrUnknownStrategy, int(c.Strategy))
	}
	if c.Shutdown < 0 {
		return fmt.Errorf("%w: shutdown %s is negative", ErrInvalidJobState, c.Shutdown)
	}
	if c.AutoShutdown < AutoNever || c.AutoShutdown > AutoAllSignificant {
		return fmt.Errorf("%w: %d", ErrUnknownAutoShutdown, int(c.AutoShutdown))
	}
	return c.Budget.Validate()
}

// JobChild is one child of a job: a task or a child job.
type JobChild struct {
	ID string
	// Job: the child is a job (a subtree), not a task.
	Job bool
	// Stage orders the children: start order is by stage, then ID. A
	// rest_for_one restart affects the later stages.
	Stage       int
	Restart     RestartType
	Significant bool
	Status      ChildStatus
	// Restarts counts the job's restarts this child caused.
	Restarts int
	// Round is the round of the start that started this incarnation (0:
	// it was never restarted). An exit reported with an earlier round is
	// a previous incarnation's, and is ignored.
	Round uint64
}

// Termination is one child of a restart or shutdown still to terminate.
type Termination struct {
	ID     string
	Final  Final
	Reason string
}

// JobState is a job supervisor's whole state: what the next owner needs to
// finish what the last one started. It is persisted before the effects of
// a decision are carried out.
type JobState struct {
	Phase JobPhase
	End   JobEnd
	// Cause says why the job failed or was stopped.
	Cause string
	// Round numbers the restarts and shutdowns: a start or terminate
	// carries it, so a start asked again is applied once, and the answer
	// to an earlier operation's terminate is known stale.
	Round uint64
	// Children are in start order.
	Children []JobChild
	// Terminate are the children still to terminate, in reverse start
	// order; the first is in progress.
	Terminate []Termination
	// Start are the children still to start, in start order, once
	// Terminate is empty; the first is in progress.
	Start []string
	// RestartTimes are the restarts inside the budget's window (all of
	// them when its period is 0), oldest first.
	RestartTimes []time.Time
	// RestartCount counts every restart of the job.
	RestartCount int
	// Unswept: the shutdown in progress has not yet swept the job's
	// subtree for children it has not heard of (EffectSweep); the job does
	// not end before it has.
	Unswept bool
	// Final is what the shutdown in progress makes of its children; a
	// stray the sweep finds is made the same.
	Final Final
	// ParentRound is the round of the parent's start (EventStart) that
	// started this incarnation of a child job: 0 for its first,
	// UnknownRound after a start that carried none. Its exits carry it,
	// as a task's carry its job round, so that its parent knows a late
	// report of an earlier incarnation (an exit delivered twice, or again
	// by the job's next owner) and does not take it for a new failure.
	ParentRound uint64
}

// UnknownRound is the round of a child's report that does not number its
// incarnation (a child job's, from a version that did not): never taken
// for stale.
const UnknownRound = math.MaxUint64

// Clone returns a deep copy of s.
func (s JobState) Clone() JobState {
	s.Children = append([]JobChild(nil), s.Children...)
	s.Terminate = append([]Termination(nil), s.Terminate...)
	s.Start = append([]string(nil), s.Start...)
	s.RestartTimes = append([]time.Time(nil), s.RestartTimes...)
	return s
}

// ExitKind is how a child exited.
type ExitKind int

const (
	// ExitCompleted: a normal exit (a task's committed result; a child
	// job that completed).
	ExitCompleted ExitKind = iota
	// ExitFailed: a failure for good (a task whose retry budget is spent,
	// a child job that gave up), with its Failure.
	ExitFailed
	// ExitCancelled: cancelled or stopped by a request, not by this job.
	ExitCancelled
	// ExitTerminated: it exited after this job terminated it (or its
	// attempt was abandoned after the shutdown time).
	ExitTerminated
)

var exitNames = []string{"completed", "failed", "cancelled", "terminated"}

func (e ExitKind) String() string { return enumString(exitNames, "ExitKind", int(e)) }

// EventKind is what a JobEvent reports.
type EventKind int

const (
	// EventAdded: a child joined the job (a task was submitted into it, a
	// child job declared); it runs.
	EventAdded EventKind = iota
	// EventStarted: a child the job started has started (the answer to an
	// EffectStart).
	EventStarted
	// EventExited: a child exited (Exit, Failure).
	EventExited
	// EventStop: stop the job and its whole subtree (Reason), its
	// children made Final (FinalNone: left stopped, for the parent's group
	// restart; the job's stop by request cancels them).
	EventStop
	// EventTick: time passed; resend what was not answered in time.
	EventTick
	// EventStart: the parent starts this job again after stopping it (or
	// after it failed), with a fresh budget: its stopped children start in
	// start order. Child.Round is the parent's round of the start
	// (JobState.ParentRound). A job that runs ignores it.
	EventStart
	// EventSwept: the answer to EffectSweep: Strays are the children the
	// store shows still live (tasks not finished, child jobs running or
	// with such tasks below them), known to the job or not.
	EventSwept
)

var eventNames = []string{"added", "started", "exited", "stop", "tick", "start", "swept"}

func (e EventKind) String() string { return enumString(eventNames, "EventKind", int(e)) }

// JobEvent is an input of a JobMachine.
type JobEvent struct {
	Kind EventKind
	// Child is the child concerned (EventAdded, EventStarted,
	// EventExited); for the latter two only its ID is needed when the job
	// knows it already, and Round: for ExitTerminated the round of the
	// terminate it answers, otherwise the child's incarnation's.
	Child   JobChild
	Exit    ExitKind
	Failure Failure
	Reason  string
	// Final is what EventStop makes of the children.
	Final Final
	// Strays (EventSwept) are the live children the sweep found, each
	// with the Status its record shows: ChildStopped for a task held for
	// its job, ChildRunning for one that runs (or may).
	Strays []JobChild
}

// EffectKind is what a JobEffect asks of the shell.
type EffectKind int

const (
	// EffectTerminate: terminate Child (cancel its attempt, wait up to
	// Shutdown, then abandon it; for a child job, stop its subtree) and
	// make it Final, then report EventExited with ExitTerminated.
	EffectTerminate EffectKind = iota
	// EffectStart: start Child again (a task with a fresh retry budget),
	// once per Round, then report EventStarted.
	EffectStart
	// EffectNotifyParent: tell the parent job this job exited (Exit,
	// Reason).
	EffectNotifyParent
	// EffectTimer: deliver EventTick at At.
	EffectTimer
	// EffectFinished: the job has ended (End in the state); nothing more
	// will happen.
	EffectFinished
	// EffectSweep: list the job's subtree as stored and report the live
	// children (EventSwept): a task that joined as the job began to shut
	// down, which the job has not heard of, or a child job that runs again
	// (a task joined it after it completed). Asked once the decision to
	// shut down is persisted: a child stored after the sweep's listing
	// reads the job's record after that decision, and refuses to start
	// (see cluster/tasks' join gate). Children lists the child jobs the
	// job knows that have ended (their subtrees are swept too).
	EffectSweep
)

var effectNames = []string{"terminate", "start", "notify_parent", "timer", "finished", "sweep"}

func (e EffectKind) String() string { return enumString(effectNames, "EffectKind", int(e)) }

// JobEffect is an output of a JobMachine.
type JobEffect struct {
	Kind     EffectKind
	Child    string
	Job      bool // Child is a job
	Shutdown time.Duration
	Final    Final
	Reason   string
	Round    uint64
	Exit     ExitKind
	At       time.Time
	// Children (EffectSweep) are the ended child jobs to sweep below.
	Children []string
}

// String describes the effect, for logs and test expectations.
func (e JobEffect) String() string {
	switch e.Kind {
	case EffectTerminate:
		return fmt.Sprintf("terminate %s final=%s", e.Child, e.Final)
	case EffectStart:
		return fmt.Sprintf("start %s round=%d", e.Child, e.Round)
	case EffectNotifyParent:
		return "notify_parent " + e.Exit.String()
	case EffectTimer:
		return "timer"
	}
	return e.Kind.String()
}

// Ready is the outcome of one step: Persist says State changed and must be
// written (check-and-set) before Effects are carried out, in order.
//
// Lazy (never with Persist) says the state changed only as the children's
// own records tell: a task joined a running job. A machine rebuilt from an
// older state learns it again from them, so the step need not be written
// before its effects; the shell carries it with a later write (State, from
// JobMachine.State, holds it). The shell must still tell whoever runs the
// job next of the event if no write carries it (the task may have been
// stored after that supervisor listed the job's tasks).
type Ready struct {
	Persist bool
	Lazy    bool
	State   JobState
	Effects []JobEffect
}
