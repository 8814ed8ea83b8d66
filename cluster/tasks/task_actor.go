package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"go.opentelemetry.io/otel/trace"
)

// attemptChild is the attempt's name in the task's supervision tree.
const attemptChild = "attempt"

// Messages the task actor receives besides its attempt's (attempt.go).
type (
	// startAttempt starts the next attempt (sent at once or after backoff).
	startAttempt struct{ after int }
	// controlTask cancels or restarts the task; the reply is a *controlReply.
	controlTask  struct{ Control }
	controlReply struct {
		rec store.Record
		err error
	}
	// drain stops starting attempts: the node is shutting down.
	drain struct{}
	// storeNow: the hold on a new task's first write is over (runFirst).
	storeNow struct{}
	// attemptGone: the attempt its job terminated has exited, or was
	// abandoned after the job's shutdown time.
	attemptGone struct{ abandoned bool }
)

var (
	// errLostClaim: another member claimed the task; this actor must not
	// write it again.
	errLostClaim = errors.New("lost the claim on the task")
	// errFinished: the task reached a terminal state under another writer.
	errFinished = errors.New("task already finished")
	// errFenced: this member fenced itself; it writes nothing.
	errFenced = errors.New("member is fenced")
)

// taskActor is the task grain: it owns one task on this member, runs and
// supervises one attempt at a time (attemptRun), and is the only writer of
// the task's status while its claim (epoch) stands. Its attempt's failures
// (an error, a panic, a time-out) are decided by the task's supervision
// tree (supervisor.Tree): the retry strategy is the supervisor's strategy.
type taskActor struct {
	m        *Manager
	id       string
	self     *actor.PID
	ctx      actor.Context
	rec      store.Record
	kind     *actors.TaskKind
	tree     *supervisor.Tree
	watchdog supervisor.Watchdog
	attempt  *attemptRun // the running attempt, if any
	draining bool
	// joinPassed: the join gate let the held step through, and the next
	// gated step goes ahead without a read (once; joingate.go).
	joinPassed bool
	// armed: the task's wake-up is armed in the root's timer heap
	// (scheduleAt); parkAsked: this actor offered to stop, idle, since
	// (offerPark, root_idle.go).
	armed, parkAsked bool
	// resume is the epoch of this member's claim when the task was parked
	// (root_idle.go): found unchanged, the task is claimed already.
	resume uint64
	// unclaimed: the task was loaded but not yet claimed; the next write
	// claims it (owner this member, epoch + 1) along with its own change.
	unclaimed bool
	// adopt: claim the task even if another member owns it (its owner left
	// the cluster).
	adopt bool
	// born: this member created the task already claimed, with its first
	// attempt counted (Manager.Submit), and this actor starts that attempt
	// without another write. Only the first incarnation: a restarted actor
	// finds the attempt interrupted.
	born bool
	// unstored: the task is not stored yet (firstWrite below).
	unstored bool
	// preloaded is the record as the adopter read it, if any.
	preloaded *store.Record
	// replyTo is the member that submitted the task, if another: it is
	// told of every change this actor commits (Peers.Push).
	replyTo string
	// firstWrite, set while the task is not stored yet (unstored), hears
	// the outcome of its first write, which creates it: Manager.runFirst
	// started the first attempt ahead of it. hold ends the wait for the
	// attempt: the task is then written running.
	firstWrite chan<- firstWrite
	hold       *time.Timer
	log        *slog.Logger // see logger
	span       trace.Span   // the running attempt's, while tracing (tracing.go)
	// obs is what this actor reports to metrics (metrics.go).
	obs actorMetrics
	// pending is the end held while the store refuses it (commit_later.go).
	pending *pendingFinish
	// terminating is the terminate by its job in progress, answered to
	// termWaiters once the attempt has exited (attemptGone).
	terminating *Control
	termWaiters []*actor.PID
	// deps is the wait for the task's dependencies (depends.go).
	deps depWait
	// join is the task's join gate while it reads the task's job
	// (joingate.go).
	join *joinGate
}

// errFirstWrite: the first write of a task started unstored failed.
var errFirstWrite = errors.New("storing the new task failed")

// errNotStored: a task actor stopped before it stored its new task.
// It is unavailable: the submit may be retried, here or elsewhere.
var errNotStored = fmt.Errorf("%w: the task was not stored: its member stopped or fenced itself first", api.ErrUnavailable)

// Receive handles the task actor's messages, its attempt's among them.
func (a *taskActor) Receive(c actor.Context) {
	if a.receivePending(c, c.Message()) || a.receiveDeps(c.Message()) || a.receiveJoin(c.Message()) {
		a.countState()
		a.offerPark()
		return
	}
	switch msg := c.Message().(type) {
	case *actor.Started:
		a.incarnate(c)
		a.load()
	case *startAttempt:
		if timerDue(msg.after, a.rec.Task.GetStatus(), a.attempt != nil, a.draining || a.terminating != nil) {
			a.armed = false // fired: the root dropped it
			a.begin(nil)
		}
	case *handlerDone:
		a.handlerDone(msg)
	case *watchdogTick:
		if msg.run == a.attempt {
			a.checkAttempt()
		}
	case *saveCheckpoint:
		c.Respond(&checkpointReply{err: a.checkpoint(msg)}) // checkpoint.go
	case *controlTask:
		switch msg.Op {
		case OpRestart:
			c.Respond(a.restart(msg.Control))
		case OpTerminate:
			a.terminate(msg.Control, c.Sender())
		default:
			c.Respond(a.cancel(msg.Reason))
		}
	case *attemptGone:
		a.terminated(msg.abandoned)
	case *storeNow:
		if a.unstored {
			if err := a.write(func(*messages.Task) {}); err != nil {
				a.writeFailed("store new task", err)
			}
		}
	case *drain:
		a.draining = true
		a.stopRetryTimer()
	case *actor.Stopping:
		a.stopRetryTimer()
		a.stopPending()
		a.deps.stop()
		a.dropJoin()
		a.endAttempt("interrupted", nil)
		a.dropAttempt()
		a.answerFirst(firstWrite{err: errNotStored})
		a.obs.gone = true
	case *actor.Restarting:
		a.dropAttempt() // the next incarnation reads the store again
		// What lasts across incarnations, for the next (incarnate).
		a.m.births.Store(a.id, &activate{id: a.id, adopt: a.adopt, from: a.replyTo})
		a.answerFirst(firstWrite{err: errNotStored})
		a.obs.gone = true
	case *parkOK:
		a.parked() // root_idle.go
	}
	a.countState()
	a.offerPark()
}

// incarnate sets up a new incarnation of the actor: its task is in its
// name (taskOf), and its activation in Manager.births, put there by the
// root's spawn (all of it) or by the previous incarnation as it restarted
// (what lasts: adopt, replyTo; a restarted actor reads the store again
// and finds its attempt interrupted).
func (a *taskActor) incarnate(c actor.Context) {
	a.ctx, a.self = c, c.Self()
	a.id, _ = taskOf(c.Parent(), a.self)
	v, ok := a.m.births.LoadAndDelete(a.id)
	if !ok {
		return
	}
	msg := v.(*activate)
	a.adopt, a.replyTo = msg.adopt, msg.from
	a.preloaded = msg.rec
	a.born = msg.born && msg.rec != nil
	a.firstWrite = msg.unstored
	a.resume = msg.resume
}

// load reads the task, claims it with a higher epoch, and resumes it where
// the store says it was.
func (a *taskActor) load() {
	var rec store.Record
	a.unstored = a.firstWrite != nil && a.preloaded != nil
	aliased := a.preloaded != nil
	if a.preloaded != nil {
		rec, a.preloaded = *a.preloaded, nil // if stale, the claim's check-and-set says so
	} else {
		var err error
		ctx, cancel := context.WithTimeout(context.Background(), a.m.cfg.StoreTimeout)
		rec, err = a.m.store.Get(ctx, a.id)
		cancel()
		if errors.Is(err, store.ErrNotFound) {
			a.logger().Warn("task gone from the store; not running it", "err", err)
			a.stop()
			return
		}
		if err != nil {
			// The store is unreachable (Consul restarting, say): fail, and
			// the supervisor starts this actor again with backoff. Stopping
			// would leave the task owned here with nobody running it.
			panic(fmt.Errorf("task %s: loading it: %w", a.id, err))
		}
	}
	if !a.unstored { // an unstored task's is kept when it is written (create)
		rec = a.m.specParts.keep(rec, aliased) // the submitter's too, if preloaded
	}
	a.rec = rec
	st := rec.Task.GetStatus()
	p := planLoad(st, a.m.member, a.adopt, a.born, a.m.now())
	if p.step == stepStop {
		if p.reason != "" {
			a.logger().Debug(p.reason, "owner", st.GetOwner())
		}
		a.perform(p)
		return
	}
	if st.GetOwner() != a.m.member {
		defer a.traceAdopt(st)()
	}
	spec, wd := settingsOf(rec.Task.GetSpec())
	a.watchdog = wd
	tree, err := supervisor.NewTree(spec, supervisor.Child{ID: attemptChild, Restart: supervisor.Transient})
	if err == nil {
		a.kind, err = a.m.registry.Task(rec.Task.GetSpec().GetKind())
	}
	if err != nil {
		a.finish(failedFor(fmt.Sprintf("cannot run on member %s: %v", a.m.member, err), nil))
		return
	}
	a.tree = tree
	a.obs.kind = a.m.metrics.Task(a.kind.Name())
	a.obs.adopting = a.adopt && st.GetOwner() != a.m.member
	a.tree.Replay(attemptChild, replayRestarts(st, a.m.now())...)
	if p.step == stepRun && a.unstored {
		// Not stored yet: the first write waits for the attempt's end or
		// the hold, whichever comes first.
		self, system := a.self, a.c().ActorSystem()
		a.hold = time.AfterFunc(a.m.cfg.HoldFirstWrite, func() { system.Root.Send(self, &storeNow{}) })
	}
	// A task not created here claimed is claimed by the next write it
	// needs anyway (starting an attempt, or recording the attempt lost
	// with its previous owner): one store write fewer per task, which
	// counts at failover.
	//
	// A task parked claimed (root_idle.go) whose claim is unchanged is
	// this member's already.
	a.unclaimed = p.step != stepRun && (a.resume == 0 || st.GetOwner() != a.m.member || st.GetEpoch() != a.resume)
	a.perform(p)
}

// perform carries out a plan of the task core (core.go).
func (a *taskActor) perform(p plan) {
	if a.waitForCapacity(p) || a.waitForDeps(p) || a.waitForJob(p) { // abandoned.go, depends.go, joingate.go
		return
	}
	switch p.step {
	case stepStop:
		a.stop()
	case stepRun:
		a.startAttempt()
	case stepStart:
		if err := a.write(func(t *messages.Task) { startStatus(t.Status, p.at, p.entry) }); err != nil {
			a.writeFailed("start attempt", err)
			return
		}
		a.startAttempt()
	case stepRetry:
		if err := a.write(func(t *messages.Task) { retryStatus(t.Status, p.at, p.entry) }); err != nil {
			a.writeFailed("record failure", err)
			return
		}
		a.scheduleAt(p.at)
	case stepSchedule:
		a.scheduleAt(p.at)
	case stepFinish:
		a.finish(p)
	case stepLost:
		a.failed(p.failure, p.attempt)
	case stepReport:
		a.m.reportExit(a.rec.Task)
		a.stop()
	}
}

// claim takes the task for member with a higher epoch, which fences every
// earlier owner's writes.
func claim(member string) func(t *messages.Task) {
	return func(t *messages.Task) {
		t.Status.Owner = member
		t.Status.Epoch++
	}
}

func (a *taskActor) c() actor.Context { return a.ctx }

// debug reports whether debug logs are on: the logs every task writes
// are debug logs, and with them off not even their logger is made.
func (a *taskActor) debug() bool { return a.m.log.Enabled(context.Background(), slog.LevelDebug) }

// logger is the actor's logger, made on first use: a logger's attributes
// are formatted when it is made, and most tasks log nothing at the
// default level.
func (a *taskActor) logger() *slog.Logger {
	if a.log == nil {
		a.log = a.m.log.With("task", a.id)
	}
	return a.log
}

// begin starts the next attempt, durable first (state running, attempt
// count), unless the deadline has passed. entry, if set, is the previous
// attempt's failure, recorded in the same write.
func (a *taskActor) begin(entry *messages.AttemptError) {
	a.perform(planDue(a.rec.Task.GetStatus(), a.m.now(), entry))
}

// startAttempt runs the attempt the store already counts.
func (a *taskActor) startAttempt() {
	n := int(a.rec.Task.GetStatus().GetAttempts())
	runCtx, cancel := attemptContext(a.traceAttempt(n), a.deadline())
	r := newAttemptRun(a.m, a.id, a.kind.Name(), n, runCtx, cancel)
	r.tc.deps = a.rec.Task.GetSpec().GetDependsOn()
	r.tc.self = a.self
	r.tc.firstCheckpoint = a.rec.Task.GetStatus().GetCheckpoint() // checkpoints: made on first use (checkpoint.go)
	a.attempt = r
	if a.debug() {
		a.logger().Debug("attempt started", "attempt", n, "kind", a.kind.Name())
	}
	a.m.hooks.attemptStarted(a.id, n)
	a.attemptStarted()
	r.goRun(a.c().ActorSystem(), a.self, a.kind, a.rec.Task.GetSpec().GetPayload())
	a.checkAttempt()
}

// checkAttempt applies the deadline and the hung-attempt rule to the
// running attempt: a time-out fails it.
func (a *taskActor) checkAttempt() {
	r := a.attempt
	if f := r.check(a.c().ActorSystem(), a.self, a.deadline(), a.watchdog); f != nil {
		a.attemptEnded(r, *f)
	}
}

// handlerDone takes the outcome of the running attempt's handler; a late
// one, of an attempt that ended, is dropped.
func (a *taskActor) handlerDone(msg *handlerDone) {
	r := msg.run
	if r != a.attempt {
		return
	}
	if msg.err != nil {
		a.attemptEnded(r, handlerFailure(msg.err, a.m.now()))
		return
	}
	r.finish()
	a.attempt = nil
	if !isCurrent(r.tc.attempt, a.rec.Task.GetStatus(), true) {
		return
	}
	a.attemptSucceeded()
	a.finish(plan{step: stepFinish, state: messages.TaskState_TASK_STATE_COMPLETED}, msg.result)
	a.endAttempt("completed", nil) // after the commit, its child
}

// attemptEnded ends the running attempt r with failure f and carries out
// the supervision tree's decision on it.
func (a *taskActor) attemptEnded(r *attemptRun, f supervisor.Failure) {
	r.finish()
	a.attempt = nil
	a.endAttempt("failed", &f)
	a.failed(f, r.tc.attempt)
}

// failed records a failed attempt and carries out the supervisor's decision.
func (a *taskActor) failed(f supervisor.Failure, attempt int) {
	now := a.m.now()
	d := a.tree.Failed(attemptChild, f, now, rand.Float64())
	a.m.hooks.attemptFailed(a.id, attempt, f.Cause)
	a.attemptFailed(f.Cause, d.Directive)
	a.logger().Info("attempt failed", "attempt", attempt, "cause", f.Cause.String(), "err", errText(f.Err), "directive", d.Directive.String(), "delay", d.Delay)
	a.perform(planFailure(a.rec.Task, f, d, attempt, now, a.draining, a.m.member))
}

func (a *taskActor) cancel(reason string) *controlReply {
	a.endAttempt("cancelled", nil)
	a.stopAttempt()
	a.finish(plan{step: stepFinish, state: messages.TaskState_TASK_STATE_CANCELLED, reason: reason})
	return &controlReply{rec: a.rec}
}

// restart stops the running attempt and starts the task again at once with
// a fresh retry budget: its job restarted it.
func (a *taskActor) restart(c Control) *controlReply {
	if apply, err := restartVerdict(c, a.rec.Task.GetStatus(), a.tree != nil); err != nil {
		return &controlReply{err: err}
	} else if !apply {
		return &controlReply{rec: a.rec} // asked again: applied already
	}
	reason := c.Reason
	a.endAttempt("restarted", nil)
	a.stopAttempt()
	now := a.m.now()
	if err := a.write(func(t *messages.Task) {
		restartStatus(t.Status, now, reason, a.m.member, c.RequestID)
		jobStartStatus(t.Status, c)
	}); err != nil {
		a.writeFailed("job restart", err)
		return &controlReply{err: err}
	}
	a.logger().Info("task restarted by its job", "reason", reason, "attempts", a.rec.Task.GetStatus().GetAttempts(), "round", c.Round)
	a.freshBudget()
	a.perform(planRestarted(a.rec.Task.GetStatus(), now))
	return &controlReply{rec: a.rec}
}

// freshBudget gives the task a new retry budget (after a job restart).
func (a *taskActor) freshBudget() {
	spec, _ := settingsOf(a.rec.Task.GetSpec())
	if tree, err := supervisor.NewTree(spec, supervisor.Child{ID: attemptChild, Restart: supervisor.Transient}); err == nil {
		a.tree = tree
	}
}

// stopAttempt ends the running attempt, counted cancelled: its context is
// cancelled, and what its handler returns later is dropped.
func (a *taskActor) stopAttempt() {
	if a.attempt != nil {
		a.attemptFailed(supervisor.CauseCancelled, -1)
		a.dropAttempt()
	}
}

// dropAttempt ends the running attempt, if any, without a decision: the
// task actor stops (its member stops, or fenced itself) or restarts.
func (a *taskActor) dropAttempt() {
	if a.attempt != nil {
		a.attempt.finish()
		a.attempt = nil
	}
}

// finish writes a terminal state and stops the actor.
func (a *taskActor) finish(p plan, result ...[]byte) {
	state, reason := p.state, p.reason
	now := a.m.now()
	committed := a.traceCommit(state)
	var res []byte
	if len(result) > 0 {
		res = result[0]
	}
	// A task of a job that fails for good (or a permanent child that
	// completes) waits for its job's decision instead of finishing.
	hold := holdOf(a.rec.Task.GetSpec(), state, p.unmendable)
	err := a.write(func(t *messages.Task) {
		if hold != "" {
			holdStatus(t.Status, hold, reason, p.entry, res, now)
		} else {
			finishStatus(t.Status, state, reason, p.entry, res, now)
		}
	})
	committed(err)
	if err != nil {
		if !a.finishLater(p, res, err) {
			a.writeFailed("finish", err)
		}
		return
	}
	a.finishedLate()
	state = a.rec.Task.GetStatus().GetState() // completed may have become failed: result_too_large
	if a.debug() {
		a.logger().Debug("task finished", "state", state.String(), "attempts", a.rec.Task.GetStatus().GetAttempts(), "epoch", a.rec.Task.GetStatus().GetEpoch())
	}
	if hold == "" {
		a.m.hooks.taskFinished(a.id, state)
	}
	a.m.reportExit(a.rec.Task)
	a.stop()
}

func (a *taskActor) deadline() time.Time { return deadlineOf(a.rec.Task.GetStatus()) }

func (a *taskActor) stop() {
	a.stopRetryTimer()
	a.c().Stop(a.self)
}
