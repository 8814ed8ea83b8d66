package tasks

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"github.com/granary-rt/granary/supervisor/backoff"
)

// perform carries out a job machine's effects, after the state that
// decided them is stored. Terminates and starts run off the actor and
// answer with events; one whose answer is lost is sent again when the
// machine's timer fires (both are idempotent).
func (a *jobActor) perform(effects []supervisor.JobEffect) {
	for _, e := range effects {
		if e.Kind != supervisor.EffectTimer && a.m.log.Enabled(context.Background(), slog.LevelDebug) {
			a.m.log.Debug("job supervisor effect", "job", a.id, "effect", e.String(), "reason", e.Reason)
		}
		switch e.Kind {
		case supervisor.EffectTerminate:
			a.terminateChild(e)
		case supervisor.EffectStart:
			a.startChild(e)
		case supervisor.EffectNotifyParent:
			a.m.routeJobAsync(a.rec.Job.GetParent(), parentExit(a.rec.Job, a.mach.State().ParentRound, e))
		case supervisor.EffectTimer:
			a.armTimer(e.At)
		case supervisor.EffectSweep:
			a.sweep()
		case supervisor.EffectFinished:
			st := a.mach.State()
			a.m.log.Info("job ended", "job", a.id, "end", st.End.String(), "cause", st.Cause, "restarts", st.RestartCount)
			if len(a.stash) == 0 {
				a.quit()
				return
			}
			// Events wait (a task joining an implicit job that completed
			// runs it again): this actor takes them, rather than hand each
			// one to a new actor that reads the job's every task first.
		}
	}
}

func (a *jobActor) armTimer(at time.Time) {
	if a.timer != nil {
		a.timer.Stop()
	}
	self, system, id := a.ctx.Self(), a.ctx.ActorSystem(), a.id
	a.timer = time.AfterFunc(at.Sub(a.m.now()), func() {
		system.Root.Send(self, &jobMsg{id: id, ev: supervisor.JobEvent{Kind: supervisor.EventTick}})
	})
}

// answer sends an effect's outcome back to this actor as an event.
func (a *jobActor) answer() func(supervisor.JobEvent) {
	self, system, id := a.ctx.Self(), a.ctx.ActorSystem(), a.id
	return func(ev supervisor.JobEvent) { system.Root.Send(self, &jobMsg{id: id, ev: ev}) }
}

// terminateChild terminates a task (OpTerminate on its owner, answered
// once its attempt has exited) or stops a child job's subtree (its end
// comes back as the child job's report).
func (a *jobActor) terminateChild(e supervisor.JobEffect) {
	if e.Job {
		a.m.routeJobAsync(e.Child, supervisor.JobEvent{Kind: supervisor.EventStop, Final: e.Final, Reason: e.Reason})
		return
	}
	answer, m, job := a.answer(), a.m, a.id
	m.jobWorkFor(e.Shutdown, func(ctx context.Context) {
		ctl := Control{Op: OpTerminate, ID: e.Child, Reason: e.Reason, Round: e.Round, Shutdown: e.Shutdown, Final: e.Final}
		rec, err := m.control(ctx, ctl)
		switch {
		case err != nil && !errors.Is(err, api.ErrFailedPrecondition) && !errors.Is(err, api.ErrNotFound):
			m.log.Warn("job supervisor: terminating a task failed; it is asked again", "job", job, "task", e.Child, "err", err)
			return
		case err == nil && terminateStale(ctl, rec.Task.GetStatus()):
			return // it was started again since: this terminate is not its
		}
		// Exited (or finished already, or gone): the answer the job waits
		// for; one that completed first says so, and keeps its result.
		exit := supervisor.ExitTerminated
		if ev, ok := m.finishedTask(ctx, e.Child, err); ok && ev.Exit == supervisor.ExitCompleted {
			exit = supervisor.ExitCompleted
		}
		answer(supervisor.JobEvent{Kind: supervisor.EventExited, Child: supervisor.JobChild{ID: e.Child, Round: e.Round}, Exit: exit})
	})
}

// finishedTask is the exit of a task a job's terminate or start was
// refused for (err, api.ErrFailedPrecondition) because it has finished
// for good, as its stored status says.
func (m *Manager) finishedTask(ctx context.Context, id string, err error) (supervisor.JobEvent, bool) {
	if !errors.Is(err, api.ErrFailedPrecondition) {
		return supervisor.JobEvent{}, false
	}
	rec, gerr := m.store.Get(ctx, id)
	if gerr != nil || !store.Terminal(rec.Task.GetStatus().GetState()) {
		return supervisor.JobEvent{}, false
	}
	return taskExit(rec.Task)
}

// startChild starts a task again with a fresh retry budget (a restart with
// the round's request id, applied once) or a child job's subtree.
func (a *jobActor) startChild(e supervisor.JobEffect) {
	answer, m, job := a.answer(), a.m, a.id
	started := supervisor.JobEvent{Kind: supervisor.EventStarted, Child: supervisor.JobChild{ID: e.Child}}
	if e.Job {
		m.jobWork(func(ctx context.Context) {
			if m.startChildJob(ctx, job, e.Child, e.Round) {
				answer(started)
			}
		})
		return
	}
	m.jobWork(func(ctx context.Context) {
		reason := fmt.Sprintf("job %s started it again (round %d)", job, e.Round)
		_, err := m.control(ctx, Control{Op: OpRestart, ID: e.Child, Reason: reason, RequestID: jobStartID(job, e.Round), Round: e.Round})
		if ev, ok := m.finishedTask(ctx, e.Child, err); ok {
			// Finished for good (it completed as it was terminated): its
			// exit, in the start's round, answers the start.
			ev.Child.Round = e.Round
			answer(ev)
			return
		}
		if err != nil && !errors.Is(err, api.ErrNotFound) {
			m.log.Warn("job supervisor: starting a task failed; it is asked again", "job", job, "task", e.Child, "err", err)
			return
		}
		if err == nil {
			m.awaitStarted(ctx, e.Child, e.Round)
		}
		answer(started)
	})
}

// startChildJob starts child job id again (EventStart) in the parent's
// round and reports whether it did: its record's round moved past the one
// read before the start (restartJob counts a round), or it shows itself
// running, started in that round (the answer to an earlier send of this
// start was lost). A start that reaches the child job while it is still
// shutting down is ignored there (it starts only a job that has ended);
// unanswered, the parent's machine sends it again once its ResendAfter has
// passed, when the child job has ended. (Answered at once, as it was, the
// parent took the child job for started while it ended stopped with its
// tasks held for good: the campaign found them "lost".) A child job
// stopped again in the round that started it (a new owner of the parent
// resuming the round's restart) is started again.
func (m *Manager) startChildJob(ctx context.Context, parent, id string, round uint64) bool {
	before, err := m.store.GetJob(ctx, id)
	if err == nil {
		err = m.routeJob(ctx, id, supervisor.JobEvent{Kind: supervisor.EventStart, Child: supervisor.JobChild{ID: id, Job: true, Round: round}})
	}
	if err != nil {
		m.log.Warn("job supervisor: starting a child job failed; it is asked again", "job", parent, "child", id, "err", err)
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, startedWait)
	defer cancel()
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		if jr, err := m.store.GetJob(wctx, id); err == nil && startedIn(jr.Job.GetRun(), before.Job.GetRun().GetRound(), round) {
			return true
		}
		select {
		case <-wctx.Done():
			m.log.Info("job supervisor: a child job did not start (it was still ending); the start is sent again later", "job", parent, "child", id)
			return false
		case <-time.After(wait):
		}
	}
}

// startedWait bounds awaitStarted: past it the start is answered anyway,
// and the supervisor goes on (the start was applied; only its attempt is
// slow to begin).
const startedWait = 2 * time.Second

// awaitStarted waits until task id runs in round (or has ended), as its
// record says: a start is answered once the child runs, as OTP's
// start_child returns once the child's init did, so that the next child
// of a group restart starts after it. A restart applied to a task whose
// actor this member is still claiming (a job adopted from a member that
// stopped) returns before the attempt begins: answering then let the next
// child's attempt begin first (TestJobOwnerLostMidRestart: b before a).
func (m *Manager) awaitStarted(ctx context.Context, id string, round uint64) {
	ctx, cancel := context.WithTimeout(ctx, startedWait)
	defer cancel()
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		rec, err := m.store.Get(ctx, id)
		if err == nil {
			st := rec.Task.GetStatus()
			// Running in the round, or already past its attempt: ended, or
			// held for the job again (a child that fails at once).
			if store.Terminal(st.GetState()) || st.GetJobRound() >= round && (st.GetState() == messages.TaskState_TASK_STATE_RUNNING || st.GetJobHold() != "") {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// reportExit tells the supervisor of t's job how t exited, as t's stored
// status says; a task not in a job, or not exited, is not reported.
func (m *Manager) reportExit(t *messages.Task) {
	m.stopChildrenOf(t)
	ev, ok := taskExit(t)
	if job := t.GetSpec().GetJobId(); job != "" && ok {
		m.routeJobAsync(job, ev)
	}
}

// routeJobAsync delivers ev to job's supervisor off the caller. It tries
// again while the job's owner cannot take it (fenced, draining: another
// member adopts the job meanwhile) or the store is out of reach, for up
// to routeRetryFor: a child's exit or a child job's end dropped here
// would leave its job waiting for good (the campaign's drain found tasks
// held for a job that never heard of their failure). Events are safe to
// deliver twice (a report sent twice is taken once).
func (m *Manager) routeJobAsync(job string, ev supervisor.JobEvent) {
	if job == "" {
		return
	}
	m.jobs.Go(func() {
		deadline := time.Now().Add(routeRetryFor)
		for wait := 50 * time.Millisecond; ; wait = min(2*wait, routeRetryMaxWait) {
			ctx, cancel := context.WithTimeout(m.jobs.Context(), 3*m.cfg.StoreTimeout)
			err := m.routeJob(ctx, job, ev)
			cancel()
			switch {
			case err == nil:
				return
			case !errors.Is(err, api.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) || m.closing.Load() || time.Now().After(deadline):
				m.log.Warn("job supervisor: delivering an event failed", "job", job, "event", ev.Kind.String(), "child", ev.Child.ID, "err", err)
				return
			}
			if !backoff.Sleep(m.jobs.Context(), wait) { // the owner's fence or drain, or the store's outage, to pass
				return // this member stops and cut its work short
			}
		}
	})
}

const (
	// routeRetryFor bounds how long an event is offered again: past a
	// member's lease and the adoption of its jobs by a survivor (seconds),
	// with room for a Consul restart.
	routeRetryFor = 2 * time.Minute
	// routeRetryMaxWait caps the pause between tries; short, so that a
	// stopping member's Stop does not wait on it for long.
	routeRetryMaxWait = 500 * time.Millisecond
)

// routeJob delivers ev to the supervisor of job: on the member whose claim
// the job's record shows, through JobPeers, or here, where the job's actor
// (spawned on demand) claims the job if another member held it.
func (m *Manager) routeJob(ctx context.Context, job string, ev supervisor.JobEvent) error {
	jr, err := m.store.GetJob(ctx, job)
	if err != nil {
		return storeErr(err)
	}
	return m.deliverJob(ctx, jr.Job, ev)
}

// deliverJob is routeJob with the job's record j read already.
func (m *Manager) deliverJob(ctx context.Context, j *messages.Job, ev supervisor.JobEvent) error {
	job := j.GetId()
	if owner := j.GetRun().GetOwner(); owner != "" && owner != m.member {
		if jp, ok := m.cfg.Peers.(JobPeers); ok {
			if ok, err := jp.ReportJob(ctx, owner, job, jobEventMsg(job, ev)); ok {
				return err
			}
		}
	}
	if m.fenced() || m.closing.Load() {
		return fmt.Errorf("%w: member %s is shutting down or fenced", api.ErrUnavailable, m.member)
	}
	m.system.Root.Send(m.root, &jobMsg{id: job, ev: ev})
	return nil
}

// ReceiveJobEvent takes an event for a job's supervisor from another member
// (JobPeers.ReportJob): this member runs it, or claims it.
func (m *Manager) ReceiveJobEvent(msg *messages.JobEvent) error {
	if err := checkID("job", msg.GetJob()); err != nil {
		return err
	}
	ev, err := jobEventOf(msg)
	if err != nil {
		return fmt.Errorf("%w: %w", api.ErrInvalidArgument, err)
	}
	if m.fenced() || m.closing.Load() {
		return fmt.Errorf("%w: member %s is shutting down or fenced", api.ErrUnavailable, m.member)
	}
	m.system.Root.Send(m.root, &jobMsg{id: msg.GetJob(), ev: ev})
	return nil
}

// jobWorkFor is jobWork for work that waits up to extra on top of its store
// calls (a terminate waits for the attempt to exit).
func (m *Manager) jobWorkFor(extra time.Duration, fn func(ctx context.Context)) {
	m.jobs.Go(func() {
		ctx, cancel := context.WithTimeout(m.jobs.Context(), 3*m.cfg.StoreTimeout+extra)
		defer cancel()
		fn(ctx)
	})
}

// jobWork runs job supervision work off the actors (it reads the store and
// controls tasks that may live on other members), bounded in time and
// tracked so Stop waits for it.
func (m *Manager) jobWork(fn func(ctx context.Context)) { m.jobWorkFor(0, fn) }

// AdoptJobs has this member run the supervisors of the jobs in progress
// whose owner is not live (alive says who is): those that placement
// (rendezvous over live) gives it, and its own whose actor is not running
// (this member restarted). Each is claimed by its actor with a higher
// epoch, then finishes what its record says is in progress.
func (m *Manager) AdoptJobs(ctx context.Context, live []string) error {
	jobs, err := m.store.ListJobs(ctx)
	if err != nil {
		return err
	}
	alive := map[string]bool{}
	for _, id := range live {
		alive[id] = true
	}
	for _, j := range jobs {
		run := j.Job.GetRun()
		if run == nil || run.GetPhase() == supervisor.PhaseDone.String() {
			continue
		}
		owner := run.GetOwner()
		if owner == m.member || !alive[owner] && jobAdopter(j.Job.GetId(), live) == m.member {
			m.system.Root.Send(m.root, &jobMsg{id: j.Job.GetId(), ev: supervisor.JobEvent{Kind: supervisor.EventTick}})
		}
	}
	return nil
}

// jobAdopter is the live member that adopts an orphaned job: the highest
// rendezvous hash of (member, job), so survivors agree without talking.
func jobAdopter(job string, live []string) string {
	best, bestH := "", uint64(0)
	for _, mem := range live {
		f := fnv.New64a()
		f.Write([]byte(mem + "\x00" + job))
		h := f.Sum64()
		if best == "" || h > bestH {
			best, bestH = mem, h
		}
	}
	return best
}

// startedIn reports whether a child job's record (run) shows it started
// by its parent's start in round: its own round moved past before, the
// one read before the start was sent, or it runs, started in that round
// or a later one.
func startedIn(run *messages.JobRun, before, round uint64) bool {
	if run.GetRound() > before {
		return true
	}
	pr, phase := run.GetParentRound(), run.GetPhase()
	live := phase == supervisor.PhaseRunning.String() || phase == supervisor.PhaseRestarting.String()
	return live && pr != supervisor.UnknownRound && pr >= round
}

// parentExit is the exit a child job reports to its parent (the machine's
// EffectNotifyParent), numbered with the round of the parent's start of
// this incarnation, so the parent knows it from a late report of an
// earlier one.
func parentExit(j *messages.Job, parentRound uint64, e supervisor.JobEffect) supervisor.JobEvent {
	child := jobChild(j)
	child.Round = parentRound
	ev := supervisor.JobEvent{Kind: supervisor.EventExited, Child: child, Exit: e.Exit}
	if e.Exit == supervisor.ExitFailed {
		ev.Failure = supervisor.Failure{Cause: supervisor.CauseError, Err: errors.New(e.Reason)}
	}
	return ev
}
