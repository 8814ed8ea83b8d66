package tasks

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/supervisor"
)

// taskContext is the actors.TaskContext of one attempt. The handler's
// goroutine writes heartbeats and progress through atomics; the attempt
// actor and status readers only read them, so nothing waits on the store.
type taskContext struct {
	context.Context
	id, kind string
	attempt  int
	base     *slog.Logger // Logger adds the attempt's attributes to it
	logger   atomic.Pointer[slog.Logger]
	now      func() time.Time
	lastBeat atomic.Int64 // unix nanoseconds
	progress atomic.Pointer[progress]
	// checkpoints saves the attempt's checkpoints (checkpoint.go).
	checkpoints *checkpointer
	// done closes when the handler's goroutine returns: its job's
	// terminate waits for it (up to the job's shutdown time).
	done chan struct{}
	// m, spawned and deps serve the handler's children (children.go)
	// and dependencies (depends.go).
	m       *Manager
	spawned spawnedSet
	deps    []string
}

type progress struct {
	fraction float64
	note     string
}

var _ actors.TaskContext = (*taskContext)(nil)

func (c *taskContext) TaskID() string { return c.id }
func (c *taskContext) Kind() string   { return c.kind }
func (c *taskContext) Attempt() int   { return c.attempt }

// Logger is built on first use: most handlers never log, and a logger's
// attributes are formatted when it is made.
func (c *taskContext) Logger() *slog.Logger {
	if l := c.logger.Load(); l != nil {
		return l
	}
	l := c.base.With("task", c.id, "kind", c.kind, "attempt", c.attempt)
	if !c.logger.CompareAndSwap(nil, l) {
		return c.logger.Load()
	}
	return l
}
func (c *taskContext) Heartbeat() { c.lastBeat.Store(c.now().UnixNano()) }

func (c *taskContext) Progress(fraction float64, note string) {
	if math.IsNaN(fraction) {
		fraction = 0
	}
	fraction = math.Max(0, math.Min(1, fraction))
	c.progress.Store(&progress{fraction: fraction, note: note})
	c.Heartbeat()
}

func (c *taskContext) lastProgress() (float64, string) {
	if p := c.progress.Load(); p != nil {
		return p.fraction, p.note
	}
	return 0, ""
}

// Messages between the task actor and its attempt actor.
type (
	// handlerDone carries the handler's outcome from its goroutine.
	handlerDone struct {
		result []byte
		err    error
	}
	// watchdogTick asks the attempt actor to check its time-outs.
	watchdogTick struct{}
	// attemptSucceeded tells the task actor to commit a result.
	attemptSucceeded struct {
		attempt int
		result  []byte
	}
	// attemptFailed is the reason an attempt actor fails with; protoactor
	// delivers it to the task actor's HandleFailure.
	attemptFailed struct {
		attempt int
		failure supervisor.Failure
	}
)

func (f *attemptFailed) Error() string {
	return fmt.Sprintf("attempt %d: %s", f.attempt, f.failure.Error())
}

// attemptActor runs one attempt of a handler. The handler runs in its own
// goroutine, so a handler that blocks and ignores its context does not
// hold up the attempt: the actor still notices the time-out, fails, and
// the late result lands in dead letters. Its goroutine is abandoned:
// counted until it returns, and capped (abandoned.go).
type attemptActor struct {
	m        *Manager
	run      *handlerRun // the handler call of this attempt
	ctx      *taskContext
	cancel   context.CancelFunc
	kind     *actors.TaskKind
	payload  []byte
	watchdog supervisor.Watchdog
	deadline time.Time // schedule-to-close, zero if none
	started  time.Time
	timer    *time.Timer
	onStart  func()
	onStop   func()
}

// Receive starts the handler, runs the watchdog and reports the outcome.
func (a *attemptActor) Receive(c actor.Context) {
	switch msg := c.Message().(type) {
	case *actor.Started:
		a.started = a.ctx.now()
		a.ctx.lastBeat.Store(a.started.UnixNano())
		a.onStart()
		self, system := c.Self(), c.ActorSystem()
		run := &handlerRun{m: a.m, kind: a.ctx.kind, id: a.ctx.id}
		a.run = run
		go func() {
			var out []byte
			var err error
			if perr := supervisor.Recover(func() { out, err = a.kind.Run(a.ctx, a.payload) }); perr != nil {
				err = perr
			}
			run.returned() // before handlerDone: a result in time is not abandoned
			if a.ctx.done != nil {
				close(a.ctx.done)
			}
			system.Root.Send(self, &handlerDone{result: out, err: err})
		}()
		a.check(c)
	case *watchdogTick:
		a.check(c)
	case *handlerDone:
		if msg.err == nil {
			c.Send(c.Parent(), &attemptSucceeded{attempt: a.ctx.attempt, result: msg.result})
			a.finish()
			return
		}
		a.fail(handlerFailure(msg.err, a.ctx.now()))
	case *actor.Stopping:
		a.finish()
	}
}

// check applies the task's deadline and the hung-attempt rule
// (attemptCheck), and arms the timer for the next check.
func (a *attemptActor) check(c actor.Context) {
	now := a.ctx.now()
	f, next := attemptCheck(a.deadline, a.watchdog, a.started, time.Unix(0, a.ctx.lastBeat.Load()), now)
	if f != nil {
		a.fail(*f)
	}
	if next.IsZero() {
		return
	}
	self, system := c.Self(), c.ActorSystem()
	if a.timer != nil {
		a.timer.Stop()
	}
	a.timer = time.AfterFunc(next.Sub(now), func() { system.Root.Send(self, &watchdogTick{}) })
}

// fail cancels the attempt and hands the failure to the task actor through
// protoactor's supervision path (a panic in Receive becomes a Failure
// message to the parent, which is the task actor's HandleFailure).
func (a *attemptActor) fail(f supervisor.Failure) {
	a.finish()
	panic(&attemptFailed{attempt: a.ctx.attempt, failure: f})
}

func (a *attemptActor) finish() {
	a.cancel()
	if a.run != nil {
		a.run.abandon() // if its handler is still running
	}
	if a.timer != nil {
		a.timer.Stop()
	}
	if a.onStop != nil {
		a.onStop()
		a.onStop = nil
	}
}
