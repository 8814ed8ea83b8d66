package supervisor

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// ResendAfter is how long past a terminate's shutdown time (or after a
// start) a JobMachine waits for the answer before it asks again: an answer
// lost with a member, or a message dropped, must not stall a restart.
// Terminate and start are idempotent, so asking twice is harmless.
const ResendAfter = 10 * time.Second

// JobMachine is the pure job supervisor, in the manner of etcd-io/raft's
// RawNode: it owns its state; events and the time go in (Step), a Ready
// comes out: the state to persist, then the effects to carry out. Their
// outcomes come back as events. It performs no I/O and reads no clock.
//
// Decisions are persisted (a restart or shutdown begun, with the children
// it terminates and starts; its end; a child job joining), progress
// through them is not: a machine rebuilt from an older state is brought up
// to date by the children's stored states (tasks that joined since, and
// exits, reported again) and sends the effect in progress again (Resume);
// terminates and starts are idempotent, a start carrying its round. A task
// joining a running job changes the state only as the task's own record
// already tells, so its step is Lazy: the shell writes it with its next
// write, not one write per child (a fan-out of 1,000 children rewrote a
// record of all of them 1,000 times).
//
// It follows OTP's supervisor: a restart terminates the affected children
// one at a time in reverse start order, waiting for each to exit, before it
// starts them one at a time in start order; the exits of children it is
// terminating are absorbed, not failures; exits of other children during
// a restart wait until it is over (OTP's supervisor handles one message at
// a time); giving up terminates every child in reverse start order, then
// the job fails; a stop does the same and the job is stopped. Three
// differences stay: a completed task child is not run again by a group
// restart (its result is committed); a failure no restart can mend (a
// permanent error, a deadline) fails the job at once; the default budget
// allows no restart.
type JobMachine struct {
	cfg      JobConfig
	st       JobState
	deferred []JobEvent
	// sentAt is when the effect in progress (head of Terminate or Start)
	// was last sent; zero: not sent by this machine yet (Resume sends it).
	sentAt time.Time
	// sweepSent: the sweep of the shutdown in progress was asked for by
	// this machine (Resume asks again).
	sweepSent bool
	out       []JobEffect
	dirty     bool
	// lazy: the state changed as the children's records already tell (a
	// task joined); see Ready.Lazy.
	lazy bool
}

// NewJobMachine returns the supervisor of a job declared as cfg, in state
// st (the zero JobState for a new job; the persisted one otherwise).
func NewJobMachine(cfg JobConfig, st JobState) (*JobMachine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st = st.Clone()
	slices.SortStableFunc(st.Children, startOrder)
	for i := 1; i < len(st.Children); i++ {
		if st.Children[i].ID == st.Children[i-1].ID {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateChild, st.Children[i].ID)
		}
	}
	return &JobMachine{cfg: cfg, st: st}, nil
}

func startOrder(a, b JobChild) int {
	return cmp.Or(cmp.Compare(a.Stage, b.Stage), cmp.Compare(a.ID, b.ID))
}

// State returns a copy of the machine's state.
func (m *JobMachine) State() JobState { return m.st.Clone() }

// Phase returns the machine's phase (State copies the whole state).
func (m *JobMachine) Phase() JobPhase { return m.st.Phase }

// Config returns the job's declaration.
func (m *JobMachine) Config() JobConfig { return m.cfg }

// Resume sends again what a restart or shutdown in progress waits for: the
// machine was rebuilt from its persisted state by a new owner (or the
// actor around it restarted), and the previous owner's effect may never
// have left.
func (m *JobMachine) Resume(now time.Time) Ready {
	m.sentAt, m.sweepSent = time.Time{}, false
	m.advance(now)
	return m.ready()
}

// Step feeds one event at now and returns what to persist and do.
func (m *JobMachine) Step(ev JobEvent, now time.Time) Ready {
	m.step(ev, now)
	return m.ready()
}

func (m *JobMachine) ready() Ready {
	r := Ready{Persist: m.dirty, Lazy: m.lazy && !m.dirty, Effects: m.out}
	if m.dirty {
		r.State = m.st.Clone()
	}
	m.out, m.dirty, m.lazy = nil, false, false
	return r
}

func (m *JobMachine) emit(e JobEffect) { m.out = append(m.out, e) }

func (m *JobMachine) step(ev JobEvent, now time.Time) {
	switch ev.Kind {
	case EventAdded:
		m.added(ev.Child)
	case EventStarted:
		m.started(ev.Child.ID, now)
	case EventExited:
		m.exited(ev, now)
	case EventStop:
		m.stop(ev.Reason, ev.Final, now)
	case EventStart:
		m.restartJob(ev.Child.Round, now)
	case EventTick:
		m.tick(now)
	case EventSwept:
		m.swept(ev.Strays, now)
	}
}

func (m *JobMachine) child(id string) *JobChild {
	i := slices.IndexFunc(m.st.Children, func(c JobChild) bool { return c.ID == id })
	if i < 0 {
		return nil
	}
	return &m.st.Children[i]
}

// added takes a new child in, running. A job that had completed runs
// again: a task joined it (an implicit job grows as tasks are submitted).
func (m *JobMachine) added(c JobChild) {
	if c.ID == "" || m.child(c.ID) != nil {
		return
	}
	if m.st.Phase == PhaseDone && m.st.End != EndCompleted {
		// A failed or stopped job takes no child; its shell refuses them,
		// but one that joined as it ended (the shell read the job's record
		// before the end was written) would run on, orphaned: it is
		// terminated.
		m.refuse(c)
		return
	}
	rebegun := m.st.Phase == PhaseDone
	if rebegun {
		m.st.Phase, m.st.End, m.st.Cause = PhaseRunning, EndNone, ""
	}
	c.Status, c.Restarts = ChildRunning, 0
	i, _ := slices.BinarySearchFunc(m.st.Children, c, startOrder)
	m.st.Children = slices.Insert(m.st.Children, i, c)
	if c.Job || rebegun || m.st.Phase != PhaseRunning {
		// A child job's record does not say it joined in a way a load
		// reads back as a task's does (its exits are not read back); a
		// job that runs again, or one at work on a restart or shutdown,
		// changed more than its children.
		m.dirty = true
	} else {
		m.lazy = true
	}
	if m.st.Phase == PhaseShuttingDown {
		// It joined as the job shuts down: it goes too, after the others
		// (with none left, once the sweep's answer comes).
		t := Termination{ID: c.ID, Final: m.st.Final, Reason: m.shutdownReason()}
		if n := len(m.st.Terminate); n > 0 {
			t.Final, t.Reason = m.st.Terminate[n-1].Final, m.st.Terminate[n-1].Reason
		}
		m.st.Terminate = append(m.st.Terminate, t)
	}
}

func (m *JobMachine) started(id string, now time.Time) {
	if len(m.st.Terminate) > 0 || len(m.st.Start) == 0 || m.st.Start[0] != id {
		return // stale: not the start in progress
	}
	if c := m.child(id); c != nil {
		c.Status, c.Round = ChildRunning, m.st.Round
	}
	m.st.Start = m.st.Start[1:]
	m.sentAt = time.Time{}
	m.advance(now)
}

// exited handles a child's exit: absorbed if the job is terminating it,
// held back while a restart or shutdown is in progress, decided otherwise.
func (m *JobMachine) exited(ev JobEvent, now time.Time) {
	c := m.child(ev.Child.ID)
	if c == nil {
		// A child the job never heard of (it joined as the job ended, and
		// its news came after its exit): it joins, as added says. A job
		// that completed runs again to decide the exit; one that failed or
		// stopped makes a held child final, else it would wait for good.
		if m.st.Phase == PhaseDone && m.st.End != EndCompleted {
			if ev.Exit == ExitFailed || ev.Exit == ExitCompleted {
				m.refuse(ev.Child)
			}
			return
		}
		if m.st.Phase == PhaseDone && ev.Exit == ExitTerminated {
			return // a stranger's termination: the answer to a refusal
		}
		m.added(ev.Child)
		c = m.child(ev.Child.ID)
	}
	if c.Status == ChildStopped && len(m.st.Start) > 0 && m.st.Start[0] == c.ID && ev.Exit != ExitTerminated && ev.Child.Round == m.st.Round && m.st.Round > 0 {
		// It exited before the answer to its start came: it started.
		m.started(c.ID, now)
		if c = m.child(ev.Child.ID); c.Status == ChildStopped {
			// Its start is not due yet as this machine sees the round: a
			// new owner resumed it from a record older than what the last
			// owner did (terminates first, then starts), and the child ran
			// in this round already. Its exit is decided once the restart
			// has reached it, as other exits during a restart are. (Taken
			// for the start's answer again and again, it overflowed the
			// stack: a member of the campaign died of it.)
			m.deferred = append(m.deferred, ev)
			return
		}
	}
	if ev.Exit == ExitTerminated && ev.Child.Round < m.st.Round || ev.Exit != ExitTerminated && ev.Child.Round < c.Round && c.Round != UnknownRound {
		return // an earlier operation's answer, or incarnation's exit, come late
	}
	if i := slices.IndexFunc(m.st.Terminate, func(t Termination) bool { return t.ID == c.ID }); i >= 0 {
		if i == 0 && c.Status == ChildStopped && !c.Job && ev.Exit == ExitFailed && m.st.Terminate[0].Final != FinalNone {
			// A failed task's report of the failure the job knows (sent
			// again): not the answer to the terminate in flight, which
			// makes it final. Taken for it, the job ended with the task
			// held for good, its terminate lost (the campaign's "lost").
			return
		}
		if c.Status != ChildStopped || i == 0 {
			m.absorb(c, i, ev.Exit, now)
		}
		return
	}
	if c.Job && c.Status == ChildCompleted && (ev.Exit == ExitFailed || ev.Exit == ExitCancelled) {
		// A child job that completed ran again (a task joined it, as a
		// task may join a completed job) and has now failed or been
		// stopped: news, not a report sent twice (the parent ignored it,
		// and the subtree's failure reached no one). The job runs again
		// to decide it.
		c.Status, m.dirty = ChildRunning, true
		if m.st.Phase == PhaseDone {
			m.st.Phase, m.st.End, m.st.Cause = PhaseRunning, EndNone, ""
		}
	}
	if c.Status != ChildRunning {
		return // known already: a report sent twice
	}
	if m.st.Phase != PhaseRunning {
		if m.st.Phase == PhaseRestarting {
			m.deferred = append(m.deferred, ev)
		}
		return
	}
	m.decide(c, ev, now)
}

// refuse terminates a child that joined a failed or stopped job as it
// ended: final cancelled, with a terminate the job does not track (its
// answer is ignored as a stranger's termination); or, under a failed child
// job, held (final none) among its siblings, which wait for the parent to
// start the subtree again or stop it.
func (m *JobMachine) refuse(c JobChild) {
	if c.ID == "" {
		return
	}
	final := FinalCancelled
	if m.cfg.HasParent && m.st.End == EndFailed && !c.Job {
		// A failed child job's tasks wait, held, for its parent to start
		// the subtree again or stop it: this one waits with them.
		c.Status, c.Restarts = ChildStopped, 0
		i, _ := slices.BinarySearchFunc(m.st.Children, c, startOrder)
		m.st.Children = slices.Insert(m.st.Children, i, c)
		m.dirty, final = true, FinalNone
	}
	reason := fmt.Sprintf("job %s had ended (%s) when %s joined it", m.cfg.ID, m.st.End, c.name())
	m.emit(JobEffect{Kind: EffectTerminate, Child: c.ID, Job: c.Job, Shutdown: m.cfg.Shutdown, Final: final, Reason: reason, Round: m.st.Round})
}

// absorb takes the exit of a child the job is terminating (Terminate[i]):
// it is not a failure. The head's exit moves the operation on; another's
// (it exited by itself before its turn) spares it the terminate, unless it
// is still to be made final. A task that completed as it was terminated
// keeps its result: a group restart does not run it again (it was
// started again and refused as completed, for good).
func (m *JobMachine) absorb(c *JobChild, i int, exit ExitKind, now time.Time) {
	c.Status = ChildStopped
	if exit == ExitCompleted && !c.Job && c.Restart != Permanent {
		c.Status = ChildCompleted
	}
	if i > 0 {
		if m.st.Terminate[i].Final == FinalNone {
			m.st.Terminate = slices.Delete(m.st.Terminate, i, i+1)
		}
		return
	}
	t := m.st.Terminate[0]
	switch t.Final {
	case FinalCancelled:
		c.Status = ChildCancelled
	case FinalFailed:
		c.Status = ChildFailed
	}
	m.st.Terminate = m.st.Terminate[1:]
	m.sentAt = time.Time{}
	m.advance(now)
}

// decide is the supervisor's rule for an exit while the job runs.
func (m *JobMachine) decide(c *JobChild, ev JobEvent, now time.Time) {
	switch {
	case ev.Exit == ExitTerminated:
		// Held, stopped, with no restart of ours in progress: the owner that
		// terminated it died before it was started again. Start it; it is
		// not a new failure.
		c.Status = ChildStopped
		m.st.Round++
		m.st.Phase, m.st.Start, m.dirty = PhaseRestarting, []string{c.ID}, true
		m.advance(now)
		return
	case ev.Exit == ExitCancelled:
		c.Status = ChildCancelled
	case c.Restart == Temporary:
		c.Status = ChildGone // never restarted; its failure neither counts nor escalates
	case ev.Exit == ExitCompleted && c.Restart != Permanent:
		c.Status = ChildCompleted
	case ev.Exit == ExitFailed && !restartable(ev.Failure):
		c.Status = ChildStopped
		m.giveUp(c, fmt.Sprintf("%s failed: %s (a restart cannot mend it)", c.name(), describeFailure(ev.Failure)), now)
		return
	default:
		c.Status = ChildStopped
		what := "exited normally"
		if ev.Exit == ExitFailed {
			what = "failed: " + describeFailure(ev.Failure)
		}
		m.restart(c, what, now)
		return
	}
	if c.Job {
		// A child job's end is not read back from the store when the job
		// is loaded again, as a task's is: it is written now.
		m.dirty = true
	}
	if m.autoShutdown(c) {
		m.shutdown(EndCompleted, fmt.Sprintf("significant %s exited (auto_shutdown %s)", c.name(), m.cfg.AutoShutdown), FinalCancelled)
		m.advance(now)
		return
	}
	if !slices.ContainsFunc(m.st.Children, func(c JobChild) bool { return c.Status.live() }) {
		m.st.Phase, m.st.End, m.st.Cause = PhaseDone, EndCompleted, ""
		m.finish()
	}
}

// restartable reports whether a restart may mend f: not a permanent error,
// a deadline or a cancellation (Granary: such a failure fails the job at
// once).
func restartable(f Failure) bool {
	return !IsPermanent(f.Err) && f.Cause != CauseDeadline && f.Cause != CauseCancelled
}

func describeFailure(f Failure) string {
	if f.Err == nil {
		return f.Cause.String()
	}
	return f.Err.Error()
}

// name is how reasons name a child.
func (c *JobChild) name() string {
	if c.Job {
		return "job " + c.ID
	}
	return "task " + c.ID
}

// autoShutdown reports whether c's exit shuts the job down.
func (m *JobMachine) autoShutdown(c *JobChild) bool {
	if !c.Significant {
		return false
	}
	switch m.cfg.AutoShutdown {
	case AutoAnySignificant:
		return true
	case AutoAllSignificant:
		return !slices.ContainsFunc(m.st.Children, func(c JobChild) bool { return c.Significant && c.Status.live() })
	}
	return false
}
