package grains

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/metrics"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

// inbox is an activation's work: what waits, in order, and the handler
// run in progress. Only the activation's actor touches it.
//
// A handler runs on a goroutine of the member's dispatcher, so the actor
// stays free while it runs: it queues what comes (up to Config.MaxQueued
// requests and MaxQueuedBytes of payload, past which it answers
// RESOURCE_EXHAUSTED), answers a request whose caller's deadline passed
// before its turn with EXPIRED instead of running it, and abandons a
// handler that has not returned AbandonGrace after its context ended: the
// caller gets a HANDLER error, what waits is refused as UNAVAILABLE (its
// callers retry and reach the replacement), and the activation retires;
// whatever the hung handler returns later is never stored nor answered.
type inbox struct {
	queue       []pending
	queuedBytes int
	// running is the handler run in progress; nil: none.
	running *handlerRun
	// sender is who the work in progress answers (nil: a timer).
	sender *actor.PID
	// endTrace ends the receive span of the request in progress.
	endTrace func()
	// stopping: the router sent its last message; stop once idle.
	stopping bool
	stopped  bool
	// abandoned: a handler hung and was abandoned; it may still be
	// running and touching the grain, its timers and reminders.
	abandoned bool
	// watchdog sends runOverdue for watched, the run in progress, when
	// its time is up (watched is nil between runs).
	watchdog *time.Timer
	watched  atomic.Pointer[handlerRun]
}

// pending is a message waiting for the activation's handler.
type pending struct {
	msg      any // *messages.GrainRequest, *localRequest or *timerFired
	sender   *actor.PID
	size     int
	deadline time.Time // the caller's; zero: none
}

// handlerRun is one handler call in progress off the actor. It is also
// the message that tells the actor the handler returned, with its
// outcome (out, err, perr), so a call allocates no other.
type handlerRun struct {
	// state is runRunning until the handler returns or the actor
	// abandons it, whichever comes first.
	state atomic.Int32
	fn    func(actors.GrainContext) ([]byte, error)
	gc    *grainContext
	// out, err and perr (a panic) are the handler's, set before the run
	// is sent back to the actor.
	out       []byte
	err, perr error
	then      func(c actor.Context, out []byte, err, perr error)
	cancel    context.CancelFunc
	limit     time.Duration // the handler time-out it ran under
	overdue   time.Time     // when it counts as hung: its context's end and the grace
}

const (
	runRunning int32 = iota
	runReturned
	runAbandoned
)

// runOverdue is the watchdog's message: the run may be hung.
type runOverdue handlerRun

func pendingOf(msg any, sender *actor.PID) pending {
	p := pending{msg: msg, sender: sender}
	req, _ := msg.(*messages.GrainRequest)
	if l, ok := msg.(*localRequest); ok {
		req = l.req
	}
	if req != nil {
		p.size, p.deadline = len(req.GetPayload()), requestDeadline(req)
	}
	return p
}

// requestDeadline is the caller's deadline of req; zero: none.
func requestDeadline(req *messages.GrainRequest) time.Time {
	if d := req.GetDeadlineUnixNano(); d != 0 {
		return time.Unix(0, d)
	}
	return time.Time{}
}

// enqueue takes a message for the handler: now if nothing runs or waits,
// else in the queue, unless the queue is full.
func (a *activation) enqueue(c actor.Context, msg any) {
	p := pendingOf(msg, c.Sender())
	if a.running == nil && len(a.queue) == 0 {
		a.begin(c, p)
		return
	}
	if p.sender != nil && (len(a.queue) >= a.h.cfg.MaxQueued || a.queuedBytes+p.size > a.h.cfg.MaxQueuedBytes) {
		a.h.refused(a.kind.Name(), metrics.RefusedQueueFull)
		a.h.sys.Root.Send(p.sender, grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_RESOURCE_EXHAUSTED, fmt.Sprintf(
			"grain %s/%s has %d requests (%d bytes) waiting, its limit (%d requests, %d bytes); retry after a moment",
			a.kind.Name(), a.identity, len(a.queue), a.queuedBytes, a.h.cfg.MaxQueued, a.h.cfg.MaxQueuedBytes), ""))
		return
	}
	a.queue = append(a.queue, p)
	a.queuedBytes += p.size
}

// next starts what waits while no handler runs, and stops the
// activation once the router is done with it and nothing is left.
func (a *activation) next(c actor.Context) {
	for a.running == nil && len(a.queue) > 0 {
		p := a.queue[0]
		a.queue[0] = pending{} // the payload goes with its answer
		a.queue = a.queue[1:]
		a.queuedBytes -= p.size
		a.begin(c, p)
	}
	if len(a.queue) == 0 {
		a.queue = nil // a burst's backing array goes too
	}
	if a.running == nil && a.stopping && !a.stopped {
		a.stopped = true
		c.Stop(c.Self())
	}
}

// begin starts p, or answers it at once: its caller gave up, or the
// activation was abandoned.
func (a *activation) begin(c actor.Context, p pending) {
	switch {
	case a.abandoned:
		if p.sender != nil {
			a.h.sys.Root.Send(p.sender, a.refusal)
		}
		return
	case !p.deadline.IsZero() && !time.Now().Before(p.deadline):
		a.h.refused(a.kind.Name(), metrics.RefusedExpired)
		if p.sender == nil {
			return
		}
		a.h.sys.Root.Send(p.sender, grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_EXPIRED,
			fmt.Sprintf("the caller's deadline passed before grain %s/%s got to the request; it was not processed", a.kind.Name(), a.identity), ""))
		return
	}
	a.start(c, p)
	if a.running == nil {
		a.endWork()
	}
}

// endWork closes the work in progress.
func (a *activation) endWork() {
	if a.endTrace != nil {
		a.endTrace()
		a.endTrace = nil
	}
	a.sender = nil
}

// respond answers the work in progress.
func (a *activation) respond(c actor.Context, resp *messages.GrainResponse) {
	if a.sender != nil {
		c.Send(a.sender, resp)
	}
}

// handlerTimeout is the bound on one call of the kind's handlers.
func (a *activation) handlerTimeout() time.Duration {
	if d := a.kind.HandlerTimeout(); d > 0 {
		return d
	}
	return a.h.cfg.HandlerTimeout
}

// run calls fn off the actor with a context that ends at deadline (zero:
// none) or after the handler time-out, whichever comes first; then, back
// on the actor, calls then with fn's results and its panic, if any.
func (a *activation) run(c actor.Context, deadline time.Time, fn func(actors.GrainContext) ([]byte, error), then func(c actor.Context, out []byte, err, perr error)) {
	limit := a.handlerTimeout()
	if end := time.Now().Add(limit); deadline.IsZero() || end.Before(deadline) {
		deadline = end
	}
	gc, cancel := a.context(deadline)
	r := &handlerRun{fn: fn, gc: gc, then: then, cancel: cancel, limit: limit, overdue: deadline.Add(a.h.cfg.AbandonGrace)}
	a.running = r
	a.watch(r, time.Until(r.overdue))
	a.h.dispatch.Schedule(func() { a.h.runHandler(a.self, r) })
}

// runHandler calls r's handler, on a dispatcher goroutine, and sends r
// back to its activation unless it was abandoned meanwhile.
func (h *Host) runHandler(self *actor.PID, r *handlerRun) {
	r.perr = supervisor.Recover(func() { r.out, r.err = r.fn(r.gc) })
	if !r.state.CompareAndSwap(runRunning, runReturned) {
		h.hung.Add(-1) // abandoned before it returned
		return
	}
	h.sys.Root.Send(self, r)
}

// watch arms the activation's watchdog to look at r after d. One timer
// per activation, reset for each run: a call allocates none.
func (a *activation) watch(r *handlerRun, d time.Duration) {
	a.watched.Store(r)
	if a.watchdog == nil {
		self, root, watched := a.self, a.h.sys.Root, &a.watched
		a.watchdog = time.AfterFunc(d, func() {
			if r := watched.Load(); r != nil {
				root.Send(self, (*runOverdue)(r))
			}
		})
		return
	}
	a.watchdog.Reset(d)
}

// finished takes a handler's return back on the actor.
func (a *activation) finished(c actor.Context, r *handlerRun) {
	if r != a.running {
		return
	}
	a.running = nil
	a.watched.Store(nil)
	a.watchdog.Stop()
	r.cancel()
	r.then(c, r.out, r.err, r.perr)
	a.endWork()
	a.next(c)
}

// overdue abandons a handler that has not returned AbandonGrace after
// its context ended.
func (a *activation) overdue(c actor.Context, r *handlerRun) {
	if r != a.running {
		return
	}
	if wait := time.Until(r.overdue); wait > 0 {
		// A firing of the watchdog meant for the run before, which
		// loaded this one: not yet.
		a.watchdog.Reset(wait)
		return
	}
	if !r.state.CompareAndSwap(runRunning, runAbandoned) {
		return // it returned: it is on its way back
	}
	a.watched.Store(nil)
	a.h.hung.Add(1)
	a.h.refused(a.kind.Name(), metrics.RefusedAbandoned)
	a.running, a.abandoned = nil, true
	r.cancel()
	a.log.Warn("grain handler did not return after its context ended; the activation is abandoned and replaced, and whatever the handler does later is dropped",
		"handler_timeout", r.limit, "grace", a.h.cfg.AbandonGrace)
	a.respond(c, grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_HANDLER, fmt.Sprintf(
		"the handler of grain %s/%s did not return within %v of its context's end (handler time-out %v); it was abandoned, and the grain's next activation starts from its stored state",
		a.kind.Name(), a.identity, a.h.cfg.AbandonGrace, r.limit), ""))
	a.endWork()
	a.refuse(c, grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_UNAVAILABLE,
		fmt.Sprintf("grain %s/%s's activation was abandoned (a handler hung); retry: the next call activates it afresh", a.kind.Name(), a.identity), ""))
	a.refuseQueued(a.refusal)
	a.next(c)
}

// refuseQueued answers every request waiting with resp and drops the
// rest (timers), releasing their payloads.
func (a *activation) refuseQueued(resp *messages.GrainResponse) {
	for _, p := range a.queue {
		if p.sender != nil {
			a.h.sys.Root.Send(p.sender, resp)
		}
	}
	a.queue, a.queuedBytes = nil, 0
}

// refusalOr is the activation's refusal, or UNAVAILABLE with why.
func (a *activation) refusalOr(why string) *messages.GrainResponse {
	if a.refusal != nil {
		return a.refusal
	}
	return grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_UNAVAILABLE, why, "")
}
