package tasks

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Messages of a job actor.
type (
	// jobMsg is an event for the supervisor of job id, routed by the root
	// actor to the job's actor (spawned on demand).
	jobMsg struct {
		id string
		ev supervisor.JobEvent
	}
	// jobLoaded carries what the actor's load read: the job's record, its
	// tasks and its child jobs.
	jobLoaded struct {
		rec   store.JobRecord
		tasks []store.Record
		jobs  []store.JobRecord
		err   error
	}
	// jobPersisted is the outcome of a write of the job's record.
	jobPersisted struct {
		rec store.JobRecord
		err error
	}
	// jobReload: read the record again (after a store error or a
	// conflict).
	jobReload struct{}
	// jobQuit tells the root actor that a job actor is done: it routes the
	// job's next events to a new one, and stops this one.
	jobQuit struct {
		id  string
		pid *actor.PID
	}
)

// jobActor is a job's supervisor on the member that holds the job's claim:
// a shell around supervisor.JobMachine. It feeds the machine the events
// (children's reports, the answers to its effects, ticks), writes the
// state the machine returns into the job's record with check-and-set, and
// only then carries out the effects, each off the actor; their outcomes
// come back as events. No store call runs inside Receive: loads and writes
// run on goroutines and answer with messages, and a store failure is a
// value (the write is retried after a pause), never a panic.
type jobActor struct {
	m    *Manager
	id   string
	ctx  actor.Context
	mach *supervisor.JobMachine
	// rec is the job's record as last read or written; epoch the claim
	// this actor holds (rec's run, once the claim landed).
	rec   store.JobRecord
	epoch uint64
	// busy: a load or write is in flight; events wait in stash.
	busy    bool
	stash   []supervisor.JobEvent
	pending []supervisor.JobEffect // to carry out once the write lands
	next    *messages.Job          // the write in flight
	timer   *time.Timer
	retry   *time.Timer
	// resume: the claim is being written: once it lands, the machine
	// resends what was in progress and catches up with the children.
	resume  bool
	catchUp []supervisor.JobEvent
	// restarts are the restarts to add to the record's history with the
	// next write.
	restarts []*messages.JobRestart
	// notes are the restarts the write in flight records, logged once it
	// lands (the chaos campaign counts each incident's restarts).
	notes []restartNote
	// base is the record the write in flight was made over: what its log
	// lines compare the landed record with (rec may be replaced by a read
	// after a conflict, which can show the write itself, landed the first
	// time its answer was lost).
	base store.JobRecord
	// landing are the events whose step the write in flight stores, and
	// the lazy steps no write has carried yet: if no write lands (another
	// member claimed the job, this one is fenced), they go back through
	// the router to whoever runs the job now.
	landing []supervisor.JobEvent
	ended   bool
}

// Receive handles the job actor's messages.
func (a *jobActor) Receive(c actor.Context) {
	if a.ended {
		if msg, ok := c.Message().(*jobMsg); ok {
			a.reroute(msg.ev) // to whoever runs the job now
		}
		return
	}
	switch msg := c.Message().(type) {
	case *actor.Started:
		a.ctx = c
		a.load()
	case *jobLoaded:
		a.loaded(msg)
	case *jobMsg:
		a.event(msg.ev)
	case *jobPersisted:
		a.persisted(msg)
	case *jobReload:
		a.load()
	case *jobRetryFn:
		msg.fn()
	case *actor.Stopping:
		a.stopTimers()
	}
}

func (a *jobActor) stopTimers() {
	if a.timer != nil {
		a.timer.Stop()
	}
	if a.retry != nil {
		a.retry.Stop()
	}
}

// load reads the job's record and children off the actor.
func (a *jobActor) load() {
	a.busy = true
	// The machine is rebuilt from the record: steps whose write did not
	// land are taken again.
	a.stash = append(a.landing, a.stash...)
	a.landing = nil
	self, system, m, id := a.ctx.Self(), a.ctx.ActorSystem(), a.m, a.id
	m.jobWork(func(ctx context.Context) {
		out := &jobLoaded{}
		out.rec, out.err = m.store.GetJob(ctx, id)
		if out.err == nil {
			out.tasks, out.err = m.store.List(ctx, store.Filter{JobID: id})
		}
		if out.err == nil {
			out.jobs, out.err = m.childJobs(ctx, id)
		}
		system.Root.Send(self, out)
	})
}

// childJobs lists the jobs whose parent is id, from the store's index of
// them: a load reads its children's records, not every job's.
func (m *Manager) childJobs(ctx context.Context, id string) ([]store.JobRecord, error) {
	return m.store.ListChildJobs(ctx, id)
}

// loaded rebuilds the machine from the record and claims the job: the
// claim lands before the machine acts.
func (a *jobActor) loaded(msg *jobLoaded) {
	if errors.Is(msg.err, store.ErrNotFound) {
		a.m.log.Warn("job supervisor: the job has no record; nothing to supervise", "job", a.id)
		a.quit()
		return
	}
	if msg.err != nil {
		a.m.log.Warn("job supervisor: loading the job failed; trying again", "job", a.id, "err", msg.err)
		a.later(&jobReload{})
		return
	}
	cfg, err := jobConfigOf(msg.rec.Job)
	var st supervisor.JobState
	if err == nil {
		st, err = jobStateOf(msg.rec.Job.GetRun())
	}
	if err == nil {
		a.mach, err = supervisor.NewJobMachine(cfg, st)
	}
	if err != nil {
		a.m.log.Error("job supervisor: the job's record is unusable", "job", a.id, "err", err)
		a.quit()
		return
	}
	a.rec = msg.rec
	a.catchUp = reconcile(a.mach, msg.tasks, msg.jobs)
	a.epoch = msg.rec.Job.GetRun().GetEpoch() + 1
	if st.Phase == supervisor.PhaseDone || st.Phase == supervisor.PhaseRunning {
		// Nothing in progress to finish: the first write that the events
		// need claims the job, before any effect of theirs.
		a.busy = false
		a.stash = append(a.catchUp, a.stash...)
		a.catchUp = nil
		a.drain()
		if !a.busy && !a.ended {
			a.quit()
		}
		return
	}
	a.resume = true
	a.write(a.mach.State(), nil)
}

// drain feeds the kept events to the machine while it is free. A job that
// ended with events waiting took them (see EffectFinished); if it is still
// over once they are in, its actor quits.
func (a *jobActor) drain() {
	for !a.busy && len(a.stash) > 0 && !a.ended {
		ev := a.stash[0]
		a.stash = a.stash[1:]
		a.handle(a.mach.Step(ev, a.m.now()), ev)
	}
	if !a.busy && !a.ended && a.mach != nil && a.mach.Phase() == supervisor.PhaseDone {
		a.quit()
	}
}

// event feeds ev to the machine, or keeps it until the machine is free.
func (a *jobActor) event(ev supervisor.JobEvent) {
	if a.busy || a.mach == nil {
		a.stash = append(a.stash, ev)
		return
	}
	a.handle(a.mach.Step(ev, a.m.now()), ev)
}

// lazyWriteEvery bounds the lazy steps (tasks joining: Ready.Lazy) a
// claimed job actor keeps unwritten: it keeps each one's event (about 250
// bytes) to hand on if it quits. It is above a handler's widest fan-out
// (actors.MaxChildren), so that one is not written while it spawns: every
// spawn, and every child's start and exit, reads the job's record, and a
// record of all the children so far made those reads the fan-out's main
// cost (a 3-member fan-out of 1,000 children took 4 s with a write every
// 256 joins and 1.7-2.0 s with none; one write per join had made 2,000
// rewrites and reads of a growing record, and timed out against Consul).
const lazyWriteEvery = 2048

// handle writes the state a step returned, then carries out its effects.
// A lazy step is written only to claim the job (the first write of this
// actor) or once lazyWriteEvery of them wait; its event is kept in landing
// until a write carries it.
func (a *jobActor) handle(r supervisor.Ready, ev supervisor.JobEvent) {
	switch {
	case r.Persist:
		a.noteRestarts(r.State, ev)
	case !r.Lazy:
		a.perform(r.Effects)
		return
	case a.claimed() && len(a.landing) < lazyWriteEvery:
		a.landing = append(a.landing, ev)
		a.perform(r.Effects)
		return
	default:
		r.State = a.mach.State()
	}
	a.landing = append(a.landing, ev)
	a.write(r.State, r.Effects)
}

// claimed reports whether this actor's claim of the job has landed.
func (a *jobActor) claimed() bool {
	run := a.rec.Job.GetRun()
	return run.GetOwner() == a.m.member && run.GetEpoch() == a.epoch
}

// write stores st in the job's record (check-and-set on its revision),
// claimed by this member; effects wait for it.
func (a *jobActor) write(st supervisor.JobState, effects []supervisor.JobEffect) {
	if a.m.fenced() {
		a.m.log.Info("job supervisor: member fenced; leaving the job", "job", a.id)
		a.quit()
		return
	}
	next := proto.Clone(a.rec.Job).(*messages.Job)
	next.Run = jobRunOf(st, a.m.member, a.epoch)
	next.Restarts = append(next.Restarts, a.restarts...)
	a.restarts = nil
	const keep = 100 // the record's history is for people; the budget lives in run
	if n := len(next.Restarts); n > keep {
		next.Restarts = next.Restarts[n-keep:]
	}
	next.UpdatedAt = timestamppb.New(a.m.now())
	if st.End == supervisor.EndFailed {
		next.Failed, next.Cause = true, st.Cause
	}
	a.busy, a.pending, a.next, a.base = true, effects, next, a.rec
	self, system, m, rev := a.ctx.Self(), a.ctx.ActorSystem(), a.m, a.rec.Revision
	m.jobWork(func(ctx context.Context) {
		rec, err := m.store.PutJob(ctx, next, rev)
		system.Root.Send(self, &jobPersisted{rec: rec, err: err})
	})
}

// persisted carries out the effects of a write that landed; a conflict
// means another writer: another member's claim (leave) or a change of the
// declaration (merge and write again); another error is retried.
func (a *jobActor) persisted(msg *jobPersisted) {
	var cr *conflictRead
	switch {
	case errors.As(msg.err, &cr):
		a.merge(msg.rec, cr.err)
		return
	case msg.err != nil:
		a.writeFailed(msg.err)
		return
	}
	if a.next.GetFailed() && !a.rec.Job.GetFailed() {
		a.m.metrics.JobFailed(a.rec.Job.GetStrategy())
	}
	a.logLanded(a.base, msg.rec)
	a.busy, a.rec, a.landing = false, msg.rec, nil
	effects := a.pending
	a.pending, a.next = nil, nil
	if a.resume {
		a.resume = false
		r := a.mach.Resume(a.m.now())
		effects = append(effects, r.Effects...)
		a.stash = append(a.catchUp, a.stash...)
		a.catchUp = nil
		if r.Persist {
			a.write(r.State, effects)
			return
		}
	}
	a.perform(effects)
	a.drain()
}

func (a *jobActor) writeFailed(err error) {
	if !errors.Is(err, store.ErrConflict) {
		a.m.log.Warn("job supervisor: writing the job failed; trying again", "job", a.id, "err", err)
		a.busy = true
		next, effects := a.next, a.pending
		a.laterFunc(func() {
			a.next, a.pending = next, effects
			a.rewrite()
		})
		return
	}
	// Read the record again: a claim by another member ends this one; a
	// change of the declaration is merged.
	self, system, m, id := a.ctx.Self(), a.ctx.ActorSystem(), a.m, a.id
	m.jobWork(func(ctx context.Context) {
		rec, err := m.store.GetJob(ctx, id)
		system.Root.Send(self, &jobPersisted{rec: rec, err: &conflictRead{err: err}})
	})
}

// conflictRead carries the record read after a conflict (or the error of
// that read) back to the actor.
type conflictRead struct{ err error }

func (e *conflictRead) Error() string { return "job record changed" }

// merge decides on the record read after a write conflicted: the claim
// being taken, or lost to another member, means loading again or leaving;
// a change of the declaration under this actor's claim is merged and the
// write made again.
func (a *jobActor) merge(fresh store.JobRecord, err error) {
	run := fresh.Job.GetRun()
	switch {
	case err != nil:
		a.m.log.Warn("job supervisor: reading the job after a conflict failed; loading it again", "job", a.id, "err", err)
		a.later(&jobReload{})
	case a.resume:
		a.notes = nil
		a.load() // claiming: start again from the record as it is
	case run.GetOwner() != a.m.member || run.GetEpoch() != a.epoch:
		a.m.log.Info("job supervisor: another member claimed the job; leaving it", "job", a.id, "owner", run.GetOwner(), "epoch", run.GetEpoch())
		a.notes = nil // never landed
		a.quit()
	default:
		next := proto.Clone(fresh.Job).(*messages.Job)
		next.Run, next.Failed, next.Cause, next.Restarts, next.UpdatedAt = a.next.Run, a.next.Failed, a.next.Cause, a.next.Restarts, a.next.UpdatedAt
		a.rec, a.next = fresh, next
		a.rewrite()
	}
}

// rewrite writes a.next again over the record as it now stands.
func (a *jobActor) rewrite() {
	next, rev := a.next, a.rec.Revision
	self, system, m := a.ctx.Self(), a.ctx.ActorSystem(), a.m
	m.jobWork(func(ctx context.Context) {
		rec, err := m.store.PutJob(ctx, next, rev)
		system.Root.Send(self, &jobPersisted{rec: rec, err: err})
	})
}

// laterFunc runs fn on the actor after a pause.
func (a *jobActor) laterFunc(fn func()) {
	a.later(&jobRetryFn{fn: fn})
}

type jobRetryFn struct{ fn func() }

func (a *jobActor) later(msg any) {
	self, system := a.ctx.Self(), a.ctx.ActorSystem()
	if a.retry != nil {
		a.retry.Stop()
	}
	a.retry = time.AfterFunc(time.Second, func() { system.Root.Send(self, msg) })
}

// quit stops the actor; events it kept go back through the router, which
// finds the job's supervisor wherever it now runs. The root actor retires
// it (retireJob) with a message queued behind the events it routed here
// before it took in the quit, so the actor sends each of those back
// through the router too before it stops.
func (a *jobActor) quit() {
	a.ended = true
	a.stopTimers()
	tell := func() { a.ctx.Send(a.ctx.Parent(), &jobQuit{id: a.id, pid: a.ctx.Self()}) }
	if hook := testHookJobQuit.Load(); hook != nil {
		(*hook)(a.id, a.ctx.Self(), tell)
	} else {
		tell()
	}
	for _, ev := range append(a.landing, a.stash...) {
		a.reroute(ev)
	}
	a.landing, a.stash = nil, nil
}

// testHookJobQuit, set by tests only, runs in a job actor as it quits, in
// place of telling the root actor: it must call tell. What it sends the
// actor before it calls tell is queued as an event the root routed here
// before it took in the quit; once tell has returned, the root may have
// retired the actor already (it runs on another goroutine), and a message
// sent to the actor then may be queued behind the poison pill and
// dropped, as the root's own sends never are.
var testHookJobQuit atomic.Pointer[func(job string, self *actor.PID, tell func())]

// retireJob is the root actor's side of a job actor's quit: from here on
// the job's events go to a new actor, and the old one is stopped by a
// poison pill, a user message, so that it stops only after the events the
// root routed to it before the quit: it sends them back through the
// router. (A stop, a system message, jumps that queue: protoactor drops
// the user messages of a stopped actor, and a job's stop routed to an
// actor that had just quit was lost, leaving DELETE /v1/jobs/{id} waiting
// for a job that never stopped.)
func retireJob(c actor.Context, jobs map[string]*actor.PID, msg *jobQuit) {
	if pid, ok := jobs[msg.id]; ok && pid.Equal(msg.pid) {
		delete(jobs, msg.id)
	}
	c.Poison(msg.pid)
}

// noteRestarts records the restarts a step made in the job's record
// history (Job.restarts), with the child whose exit caused them, and counts
// them.
func (a *jobActor) noteRestarts(st supervisor.JobState, ev supervisor.JobEvent) {
	for i := int(a.rec.Job.GetRun().GetRestartCount()); i < st.RestartCount; i++ {
		a.restarts = append(a.restarts, &messages.JobRestart{At: timestamppb.New(a.m.now()), Task: ev.Child.ID, Error: describe(ev.Failure)})
		a.m.metrics.JobRestarted(a.rec.Job.GetStrategy())
		cr := ev.Child.Round // the exited incarnation's, as a task reports it
		if ev.Child.Job {
			cr = childRound(a.rec.Job.GetRun(), ev.Child.ID) // a child job's reports carry no round
		}
		a.notes = append(a.notes, restartNote{child: ev.Child.ID, childRound: cr, round: st.Round, count: i + 1})
	}
}
