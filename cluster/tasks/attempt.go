package tasks

import (
	"context"
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
// goroutine writes heartbeats and progress through atomics; the task
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

// Messages from an attempt's goroutine and watchdog timer to its task
// actor. Each names its attempt: one that ended (failed, cancelled,
// terminated, restarted) is no longer the task actor's attempt, and what
// it sends late is dropped.
type (
	// handlerDone carries the handler's outcome from its goroutine.
	handlerDone struct {
		run    *attemptRun
		result []byte
		err    error
	}
	// watchdogTick asks the task actor to check its attempt's time-outs.
	watchdogTick struct{ run *attemptRun }
)

// attemptRun is one attempt of a handler, run by its task actor. The
// handler runs in its own goroutine, so a handler that blocks and ignores
// its context does not hold up the task actor: it still notices the
// time-out, ends the attempt and asks the task's supervision tree what
// next, and the late result is dropped. Its goroutine is abandoned:
// counted until it returns, and capped (abandoned.go).
//
// An attempt is not an actor of its own: a member holds one per running
// task, and a protoactor actor (context, mailbox, process-registry entry,
// its parent's set of children) cost about 1.5 KB of the 4 KB a running
// task may cost (issue #23). Its failures reach the task's supervision
// tree (supervisor.Tree) as before: the retry strategy is still the
// supervisor's strategy; only the mailbox hop of protoactor's failure
// path is gone. It holds what the attempt needs, the handler's context
// by value (one allocation per attempt).
type attemptRun struct {
	tc     taskContext
	cancel context.CancelFunc
	// fate is its handler call's: running, returned, or abandoned
	// (abandoned.go): it returns while the attempt runs, or the attempt
	// ends first and abandons it, whichever happens first.
	fate    atomic.Int32
	started time.Time
	timer   *time.Timer
	// listed: counted running and listed in Manager.live, until finish.
	listed bool
}

// smallMailbox is the mailbox of task actors: a lock-free queue costs a
// few dozen bytes where the default ring starts at ten slots, and a member
// holds one per running task, whose actor sees a handful of messages.
var smallMailbox = actor.WithMailbox(actor.UnboundedLockfree())

// newAttemptRun makes attempt n of task id's handler, in ctx, before it
// starts (go).
func newAttemptRun(m *Manager, id, kind string, n int, ctx context.Context, cancel context.CancelFunc) *attemptRun {
	r := &attemptRun{cancel: cancel}
	r.tc.Context, r.tc.id, r.tc.kind, r.tc.attempt, r.tc.m = ctx, id, kind, n, m
	return r
}

// goRun lists the attempt running and starts its handler's goroutine,
// which reports its outcome to self.
func (r *attemptRun) goRun(system *actor.ActorSystem, self *actor.PID, kind *actors.TaskKind, payload []byte) {
	m := r.tc.m
	r.started = m.now()
	r.tc.lastBeat.Store(r.started.UnixNano())
	r.listed = true
	m.running.Add(1)
	m.live.Store(r.tc.id, &r.tc)
	go func() {
		var out []byte
		var err error
		if perr := supervisor.Recover(func() { out, err = kind.Run(&r.tc, payload) }); perr != nil {
			err = perr
		}
		r.returned() // before handlerDone: a result in time is not abandoned
		r.tc.handlerReturned()
		system.Root.Send(self, &handlerDone{run: r, result: out, err: err})
	}()
}

// check applies the task's deadline and the hung-attempt rule
// (attemptCheck): it returns the attempt's failure, if it timed out, or
// arms the timer that ticks self at the next check.
func (r *attemptRun) check(system *actor.ActorSystem, self *actor.PID, deadline time.Time, wd supervisor.Watchdog) *supervisor.Failure {
	now := r.tc.m.now()
	f, next := attemptCheck(deadline, wd, r.started, time.Unix(0, r.tc.lastBeat.Load()), now)
	if f != nil || next.IsZero() {
		return f
	}
	if r.timer != nil {
		r.timer.Reset(next.Sub(now)) // its function is the same: tick self
		return nil
	}
	tick := &watchdogTick{run: r}
	r.timer = time.AfterFunc(next.Sub(now), func() { system.Root.Send(self, tick) })
	return nil
}

// finish ends the attempt: its context is cancelled, its handler, if
// still running, abandoned, its timer stopped, and it is no longer listed.
func (r *attemptRun) finish() {
	r.cancel()
	if !r.started.IsZero() {
		r.abandon() // if its handler is still running
	}
	if r.timer != nil {
		r.timer.Stop()
	}
	if r.listed {
		r.listed = false
		r.tc.m.running.Add(-1)
		r.tc.m.live.CompareAndDelete(r.tc.id, &r.tc)
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
