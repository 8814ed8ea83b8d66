package tasks

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
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
	logger   atomic.Pointer[slog.Logger] // m.log with the attempt's attributes
	lastBeat atomic.Int64                // unix nanoseconds
	progress atomic.Pointer[progress]
	// mu guards what is made on first use, as most attempts need
	// neither: checkpoints saves the attempt's checkpoints
	// (checkpoint.go), made from self (the task actor; nil: this context
	// saves none) and firstCheckpoint; exitCh closes when the handler's
	// goroutine has returned (exited: its job's terminate waits for it,
	// up to the job's shutdown time).
	mu              sync.Mutex
	checkpoints     *checkpointer
	self            *actor.PID
	firstCheckpoint []byte
	exitCh          chan struct{}
	returned        bool
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
	l := c.m.log.With("task", c.id, "kind", c.kind, "attempt", c.attempt)
	if !c.logger.CompareAndSwap(nil, l) {
		return c.logger.Load()
	}
	return l
}
func (c *taskContext) Heartbeat() { c.lastBeat.Store(c.m.now().UnixNano()) }

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

// exited is closed once the handler's goroutine has returned.
func (c *taskContext) exited() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exitCh == nil {
		c.exitCh = make(chan struct{})
		if c.returned {
			close(c.exitCh)
		}
	}
	return c.exitCh
}

// handlerReturned is called by the handler's goroutine as it returns.
func (c *taskContext) handlerReturned() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.returned = true
	if c.exitCh != nil {
		close(c.exitCh)
	}
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
//
// It holds only what the attempt needs, by value where it can: a member
// holds one per running task (the footprint test, footprint_test.go).
type attemptActor struct {
	m        *Manager
	run      handlerRun // the handler call of this attempt (run.m set once started)
	ctx      *taskContext
	cancel   context.CancelFunc
	kind     *actors.TaskKind
	payload  []byte
	watchdog supervisor.Watchdog
	deadline time.Time // schedule-to-close, zero if none
	started  time.Time
	timer    *time.Timer
	// listed: counted running and listed in Manager.live, until finish.
	listed bool
}

// smallMailbox is the mailbox of task and attempt actors: a lock-free
// queue costs a few dozen bytes where the default ring starts at ten
// slots, and a member holds two per running task, whose actors see a
// handful of messages each.
var smallMailbox = actor.WithMailbox(actor.UnboundedLockfree())

// Receive starts the handler, runs the watchdog and reports the outcome.
func (a *attemptActor) Receive(c actor.Context) {
	switch msg := c.Message().(type) {
	case *actor.Started:
		a.started = a.ctx.m.now()
		a.ctx.lastBeat.Store(a.started.UnixNano())
		a.listed = true
		a.m.running.Add(1)
		a.m.live.Store(a.ctx.id, a.ctx)
		self, system := c.Self(), c.ActorSystem()
		run := &a.run
		run.m, run.kind, run.id = a.m, a.ctx.kind, a.ctx.id
		go func() {
			var out []byte
			var err error
			if perr := supervisor.Recover(func() { out, err = a.kind.Run(a.ctx, a.payload) }); perr != nil {
				err = perr
			}
			run.returned() // before handlerDone: a result in time is not abandoned
			a.ctx.handlerReturned()
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
		a.fail(handlerFailure(msg.err, a.ctx.m.now()))
	case *actor.Stopping:
		a.finish()
	}
}

// check applies the task's deadline and the hung-attempt rule
// (attemptCheck), and arms the timer for the next check.
func (a *attemptActor) check(c actor.Context) {
	now := a.ctx.m.now()
	f, next := attemptCheck(a.deadline, a.watchdog, a.started, time.Unix(0, a.ctx.lastBeat.Load()), now)
	if f != nil {
		a.fail(*f)
	}
	if next.IsZero() {
		return
	}
	if a.timer != nil {
		a.timer.Reset(next.Sub(now)) // its function is the same: tick this actor
		return
	}
	self, system := c.Self(), c.ActorSystem()
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
	if a.run.m != nil {
		a.run.abandon() // if its handler is still running
	}
	if a.timer != nil {
		a.timer.Stop()
	}
	if a.listed {
		a.listed = false
		a.m.running.Add(-1)
		a.m.live.CompareAndDelete(a.ctx.id, a.ctx)
	}
}

// attemptContext is the context an attempt's handler runs in: one context
// that ends at the task's deadline (none if zero) or when cancelled.
func attemptContext(parent context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	if deadline.IsZero() {
		return context.WithCancel(parent)
	}
	return context.WithDeadline(parent, deadline)
}
