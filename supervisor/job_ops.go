package supervisor

import (
	"fmt"
	"slices"
	"time"
)

// restart restarts the job around c, which exited (stopped): through the
// budget, then the group the strategy names is terminated in reverse start
// order and started again in start order, c among them.
func (m *JobMachine) restart(c *JobChild, what string, now time.Time) {
	b := m.cfg.Budget
	h := history{times: m.st.RestartTimes, total: m.st.RestartCount}
	used := h.inWindow(now, b.Period)
	m.st.RestartTimes = h.times
	if !b.Unlimited() && used >= b.MaxRestarts {
		m.giveUp(c, fmt.Sprintf("%s %s; job %s gave up: restart budget exhausted: %d restarts, %s", c.name(), what, m.cfg.ID, used, b), now)
		return
	}
	h.record(now, b.Period)
	m.st.RestartTimes, m.st.RestartCount = h.times, h.total
	c.Restarts++
	m.st.Round++
	m.st.Phase, m.dirty = PhaseRestarting, true
	reason := fmt.Sprintf("job %s restarts (%s) after %s %s", m.cfg.ID, m.cfg.Strategy, c.name(), what)
	group := m.group(c)
	m.st.Terminate = m.st.Terminate[:0]
	for i := len(group) - 1; i >= 0; i-- {
		t := Termination{ID: group[i].ID, Reason: reason}
		if group[i].Restart == Temporary {
			// OTP: a temporary sibling caught in a group restart is
			// terminated and not started again.
			t.Final = FinalCancelled
		}
		m.st.Terminate = append(m.st.Terminate, t)
	}
	m.st.Start = m.st.Start[:0]
	for _, g := range m.st.Children {
		if g.ID == c.ID || slices.ContainsFunc(group, func(x JobChild) bool { return x.ID == g.ID && x.Restart != Temporary }) {
			m.st.Start = append(m.st.Start, g.ID)
		}
	}
	m.sentAt = time.Time{}
	m.advance(now)
}

// group returns the running children other than c that a restart of c
// terminates, in start order: none under one_for_one, every one under
// one_for_all, those of later stages under rest_for_one. Completed
// children are not among them: a committed result is not run again.
func (m *JobMachine) group(c *JobChild) []JobChild {
	var out []JobChild
	for _, g := range m.st.Children {
		if g.ID == c.ID || g.Status != ChildRunning {
			continue
		}
		switch m.cfg.Strategy {
		case OneForAll:
			out = append(out, g)
		case RestForOne:
			if g.Stage > c.Stage {
				out = append(out, g)
			}
		}
	}
	return out
}

// giveUp fails the job after c's failure: every child is terminated in
// reverse start order, then the job ends failed. At the root the children
// are made final (c failed, the rest cancelled); a child job's children
// wait, stopped, for its parent to start the subtree again or stop it.
func (m *JobMachine) giveUp(c *JobChild, cause string, now time.Time) {
	final, own := FinalCancelled, FinalFailed
	if m.cfg.HasParent {
		final, own = FinalNone, FinalNone
	}
	m.shutdown(EndFailed, cause, final)
	if i := slices.IndexFunc(m.st.Terminate, func(t Termination) bool { return t.ID == c.ID }); i >= 0 {
		m.st.Terminate[i].Final = own
	}
	m.advance(now)
}

// stop stops the job and its subtree, its children made final (or, with
// FinalNone, left stopped for the parent to start again: a group restart
// of the parent). A job that has ended with children left stopped makes
// them final; one that has ended otherwise tells its parent again.
func (m *JobMachine) stop(reason string, final Final, now time.Time) {
	if reason == "" {
		reason = "stopped by request"
	}
	held := slices.ContainsFunc(m.st.Children, func(c JobChild) bool { return c.Status.live() })
	switch {
	case m.st.Phase == PhaseDone && !held && final != FinalNone && m.st.End == EndCompleted:
		// Its parent stops it as it completed, or found it running again
		// (a task joined it, unheard of here yet): it shuts down, which
		// sweeps its subtree, and ends stopped.
	case m.st.Phase == PhaseDone && (!held || final == FinalNone):
		m.finish()
		return
	case m.st.Phase == PhaseShuttingDown && (final == FinalNone || m.st.Final != FinalNone && !slices.ContainsFunc(m.st.Terminate, func(t Termination) bool { return t.Final == FinalNone })):
		// The shutdown in progress makes its children final already (or
		// this stop leaves them as they are). One that leaves them
		// stopped (a child job giving up, for its parent to restart) is
		// taken over by the stop, even once it only waits for its sweep.
		return
	}
	end := m.st.End
	if end == EndNone || end == EndCompleted {
		end = EndStopped
	}
	if m.st.Cause != "" && end != EndStopped {
		reason = m.st.Cause
	}
	m.shutdown(end, reason, final)
	m.advance(now)
}

// restartJob starts a job that ended (stopped or failed) again, with a
// fresh budget: its parent restarts the subtree. Its stopped children
// start in start order. A job that runs takes it as done already.
func (m *JobMachine) restartJob(round uint64, now time.Time) {
	if m.st.Phase != PhaseDone {
		return // running already, or still ending: the parent sends it again
	}
	// A start of a round it has run in already is applied too: a new
	// owner of the parent, resuming the round's restart from its record,
	// stops it and starts it again, as it does the round's tasks.
	switch {
	case round == 0:
		m.st.ParentRound = UnknownRound // a parent that does not number its starts
	case m.st.ParentRound == UnknownRound || round > m.st.ParentRound:
		m.st.ParentRound = round
	}
	m.st.Phase, m.st.End, m.st.Cause = PhaseRestarting, EndNone, ""
	m.st.Round++
	m.st.RestartTimes, m.st.RestartCount = nil, 0
	m.st.Start = m.st.Start[:0]
	for _, c := range m.st.Children {
		if c.Status == ChildStopped {
			m.st.Start = append(m.st.Start, c.ID)
		}
	}
	m.sentAt, m.dirty = time.Time{}, true
	m.advance(now)
}

// shutdown begins terminating every live child in reverse start order,
// each made final; the job then ends with end. The caller advances.
func (m *JobMachine) shutdown(end JobEnd, cause string, final Final) {
	if m.st.Phase == PhaseRestarting && len(m.st.Terminate) == 0 && len(m.st.Start) > 0 {
		// The start in progress may have been applied (its answer not in
		// yet, or lost with the previous owner): the child may run, so
		// the shutdown terminates it too. Left stopped in the job's view,
		// a shutdown that leaves its children held would skip it, and it
		// ran on under a job that had ended.
		if c := m.child(m.st.Start[0]); c != nil && c.Status == ChildStopped {
			c.Status = ChildRunning
		}
	}
	m.st.Phase, m.st.End, m.st.Cause = PhaseShuttingDown, end, cause
	m.st.Round++ // the answers to an earlier operation's terminates are stale
	m.st.Start, m.deferred = nil, nil
	m.st.Terminate = m.st.Terminate[:0]
	reason := m.shutdownReason()
	for i := len(m.st.Children) - 1; i >= 0; i-- {
		if c := m.st.Children[i]; c.Status.live() {
			m.st.Terminate = append(m.st.Terminate, Termination{ID: c.ID, Final: final, Reason: reason})
		}
	}
	m.st.Unswept, m.st.Final = true, final
	m.sentAt, m.sweepSent, m.dirty = time.Time{}, false, true
}

// shutdownReason is the reason the shutdown in progress gives its
// children.
func (m *JobMachine) shutdownReason() string {
	verb := map[JobEnd]string{EndFailed: "failed", EndStopped: "stopped", EndCompleted: "shut down"}[m.st.End]
	return fmt.Sprintf("job %s %s: %s", m.cfg.ID, verb, m.st.Cause)
}

// swept takes in the sweep of the shutdown in progress: each stray it
// found that the shutdown does not terminate already (a child it never
// heard of, a child job it took for completed that runs again, a task it
// took for stopped that runs: the stray's Status says which) is
// terminated too, after the others; then the job may end.
func (m *JobMachine) swept(strays []JobChild, now time.Time) {
	if m.st.Phase != PhaseShuttingDown || !m.st.Unswept {
		return // no sweep in progress: a late answer
	}
	reason := m.shutdownReason()
	for _, s := range strays {
		switch c := m.child(s.ID); {
		case s.ID == "":
			continue
		case c == nil:
			s.Status, s.Restarts = ChildRunning, 0
			i, _ := slices.BinarySearchFunc(m.st.Children, s, startOrder)
			m.st.Children = slices.Insert(m.st.Children, i, s)
		case c.Job && c.Status == ChildCompleted:
			c.Status = ChildRunning // a task joined it since: it runs again
		case !c.Job && c.Status == ChildStopped && s.Status == ChildRunning:
			// Stopped as this machine sees it, running as stored: a new
			// owner resumed the job from a record older than what the last
			// owner did (it had started the task again), or a start of an
			// earlier owner's reached the task late. Left alone, it ran on
			// under a job that ended (the campaign's "child-of-ended-job").
			c.Status = ChildRunning
		default:
			// Known: the shutdown terminates it or has (the listing may
			// predate its end), or it waits, stopped.
			continue
		}
		m.st.Terminate = append(m.st.Terminate, Termination{ID: s.ID, Final: m.st.Final, Reason: reason})
		m.dirty = true
	}
	// With no stray, nothing is written: a new owner would sweep again,
	// which is harmless, and the job's end (finish) writes it anyway.
	m.st.Unswept = false
	m.advance(now)
}

// advance carries the operation in progress on: the next terminate, once
// the terminations are over the next start, once both are over the end of
// the operation.
func (m *JobMachine) advance(now time.Time) {
	if m.st.Phase == PhaseShuttingDown && m.st.Unswept && !m.sweepSent {
		m.sweepSent = true
		m.emit(JobEffect{Kind: EffectSweep})
	}
	for len(m.st.Terminate) > 0 {
		t := m.st.Terminate[0]
		c := m.child(t.ID)
		if c == nil || !c.Status.live() || c.Status == ChildStopped && t.Final == FinalNone {
			m.st.Terminate = m.st.Terminate[1:] // exited already
			continue
		}
		if m.sentAt.IsZero() {
			if c.Status == ChildRunning {
				c.Status = ChildTerminating
			}
			wait := ResendAfter
			if !c.Job {
				wait += m.cfg.Shutdown
			}
			m.send(now, wait, JobEffect{Kind: EffectTerminate, Child: c.ID, Job: c.Job, Shutdown: m.cfg.Shutdown, Final: t.Final, Reason: t.Reason, Round: m.st.Round})
		}
		return
	}
	for len(m.st.Start) > 0 {
		c := m.child(m.st.Start[0])
		if c == nil || c.Status != ChildStopped {
			m.st.Start = m.st.Start[1:]
			continue
		}
		if m.sentAt.IsZero() {
			m.send(now, ResendAfter, JobEffect{Kind: EffectStart, Child: c.ID, Job: c.Job, Round: m.st.Round})
		}
		return
	}
	switch m.st.Phase {
	case PhaseRestarting:
		m.st.Phase, m.dirty = PhaseRunning, true
		deferred := m.deferred
		m.deferred = nil
		for _, ev := range deferred {
			m.step(ev, now)
		}
	case PhaseShuttingDown:
		if m.st.Unswept {
			return // the sweep's answer first: a stray would outlive the job
		}
		m.st.Phase = PhaseDone
		m.finish()
	}
}

// send emits an effect in progress and the timer that resends it if no
// answer comes within wait.
func (m *JobMachine) send(now time.Time, wait time.Duration, e JobEffect) {
	m.sentAt = now
	m.emit(e)
	m.emit(JobEffect{Kind: EffectTimer, At: now.Add(wait)})
}

// tick resends the effect in progress if its answer is overdue.
func (m *JobMachine) tick(now time.Time) {
	if m.sentAt.IsZero() {
		return
	}
	wait := ResendAfter
	if len(m.st.Terminate) > 0 {
		if c := m.child(m.st.Terminate[0].ID); c != nil && !c.Job {
			wait += m.cfg.Shutdown
		}
	} else if len(m.st.Start) == 0 {
		return
	}
	if now.Sub(m.sentAt) >= wait {
		m.sentAt = time.Time{}
		m.advance(now)
	}
}

// finish ends the job: its parent hears of it as one child's exit.
func (m *JobMachine) finish() {
	m.dirty = true
	if m.cfg.HasParent {
		exit := ExitCompleted
		switch m.st.End {
		case EndFailed:
			exit = ExitFailed
		case EndStopped:
			exit = ExitCancelled
		}
		m.emit(JobEffect{Kind: EffectNotifyParent, Exit: exit, Reason: m.st.Cause})
	}
	m.emit(JobEffect{Kind: EffectFinished})
}
