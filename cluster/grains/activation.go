package grains

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"go.opentelemetry.io/otel/trace"
)

// activation is one grain instance. It claims the identity in the directory
// before processing anything; a member that does not get the claim answers
// every message with the holder and stops.
//
// Its handlers run one at a time, each on a goroutine of the member's
// dispatcher (inbox.go), while the actor keeps taking messages: it queues
// them (bounded), answers those whose caller gave up without running
// them, and abandons a handler that outlives its time-out. Everything but
// the handler call itself (state, reminders, timers, answers) happens on
// the actor, never while a handler runs.
type activation struct {
	h        *Host
	kind     *actors.GrainKind
	identity string
	id       string
	epoch    uint64 // Host.fences when the activation claimed its identity
	grain    actors.Grain
	claimed  bool
	refusal  *messages.GrainResponse
	retiring bool
	log      *slog.Logger
	// record is the grain's stored record (durable kinds: its state and
	// the last requests applied), at stateVersion.
	record       *messages.GrainStateRecord
	stateVersion uint64
	// reminders are the grain's reminders as its handlers left them,
	// stored with the record by saveState.
	reminders []*messages.StoredReminder
	self      *actor.PID
	timers    map[string]*grainTimer
	timerGen  uint64
	// lastRequest is when the activation last got a request: timers do
	// not keep it from going idle.
	lastRequest time.Time
	// traceCtx and span are the receive span of the request being
	// handled, while tracing (tracing.go).
	traceCtx context.Context
	span     trace.Span
	inbox
}

func (a *activation) Receive(c actor.Context) {
	switch msg := c.Message().(type) {
	case *actor.Started:
		a.log = a.h.log.With("grain", a.kind.Name(), "identity", a.identity, "activation", a.id)
		a.self, a.lastRequest = c.Self(), time.Now()
		a.activate(c)
	case *messages.GrainRequest, *localRequest:
		a.lastRequest = time.Now()
		a.enqueue(c, msg)
	case *timerFired:
		a.enqueue(c, msg)
	case *handlerRun:
		a.finished(c, msg)
	case *runOverdue:
		a.overdue(c, (*handlerRun)(msg))
	case *actor.ReceiveTimeout:
		if a.running == nil {
			a.log.Debug("grain idle; deactivating")
			a.retire(c, nil)
		}
	case *retire:
		a.retired(c, msg)
	case *actor.Stopping:
		if a.watchdog != nil {
			a.watchdog.Stop()
		}
		a.deactivate()
	}
}

// start begins the work p: a request, a reminder's firing or a timer's.
func (a *activation) start(c actor.Context, p pending) {
	a.sender = p.sender
	switch msg := p.msg.(type) {
	case *messages.GrainRequest:
		if msg.GetReminder() != nil {
			a.fireReminder(c, msg)
		} else {
			a.handle(c, msg, nil)
		}
	case *localRequest:
		a.handle(c, msg.req, msg.decoded)
	case *timerFired:
		a.onTimer(c, msg)
	}
}

func (a *activation) activate(c actor.Context) {
	ctx, cancel := context.WithTimeout(context.Background(), a.h.cfg.DirectoryTimeout)
	defer cancel()
	a.epoch = a.h.fences.Load()
	holder, err := a.h.cfg.Directory.Claim(ctx, a.kind.Name(), a.identity, a.h.cfg.Member)
	switch {
	case err != nil:
		a.refuse(c, grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_UNAVAILABLE, "claiming the activation: "+err.Error(), ""))
		return
	case holder != a.h.cfg.Member:
		a.refuse(c, grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_NOT_OWNER, "activation held by "+holder, holder))
		return
	}
	a.claimed = true
	a.h.active.Add(1)
	a.h.byKind.add(a.kind.Name(), 1)
	a.grain = a.kind.New()
	if !a.loadState(c) {
		return
	}
	if act, ok := a.grain.(actors.Activator); ok {
		gc, cancel := a.context(time.Now().Add(a.h.cfg.CallTimeout))
		var actErr error
		if perr := supervisor.Recover(func() { actErr = act.OnActivate(gc) }); perr != nil {
			actErr = perr
		}
		cancel()
		if actErr != nil {
			a.stopTimers()
			a.grain = nil // never activated: no OnDeactivate
			a.refuse(c, grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_HANDLER, "activation failed: "+actErr.Error(), ""))
			return
		}
		// Reminders set in OnActivate are stored before any message.
		if resp := a.saveState(c, nil, nil); resp != nil {
			a.refuse(c, resp)
			return
		}
	}
	a.log.Debug("grain activated")
	if !a.kind.IsSingleton() { // a singleton stays up while its member holds the lock
		c.SetReceiveTimeout(a.h.cfg.IdleTimeout)
	}
}

// refuse answers every later message with resp and retires the activation.
func (a *activation) refuse(c actor.Context, resp *messages.GrainResponse) {
	a.refusal = resp
	a.retire(c, resp)
}

// retire asks the router to stop routing here; the activation stops when
// the router's retire message arrives, after every request forwarded
// before it. With resp nil it keeps serving until then.
func (a *activation) retire(c actor.Context, resp *messages.GrainResponse) {
	if resp != nil {
		a.refusal = resp
	}
	if !a.retiring {
		a.retiring = true
		c.Send(c.Parent(), &retireMe{pid: c.Self(), keepsClaim: a.abandoned})
	}
}

// retired takes the router's last message: nothing more comes. With a
// reason (the member fenced or leaves) what waits is refused; otherwise
// it is served first. The activation stops once no handler runs.
func (a *activation) retired(c actor.Context, msg *retire) {
	if msg.reason != "" {
		a.refusal = grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_UNAVAILABLE, msg.reason, "")
	}
	a.stopping = true
	a.next(c)
}

// admit reports whether the activation takes a request; if not, it has
// answered it.
func (a *activation) admit(c actor.Context) bool {
	if a.refusal != nil {
		a.respond(c, a.refusal)
		return false
	}
	if a.h.fenced() || a.fencedSinceClaim() {
		// Self-fenced: the claim may already belong to another member.
		a.fence(c)
		return false
	}
	return true
}

// handle answers req; decoded (nil: none) is its payload as the caller's
// GrainKind.Check decoded it, in this process (localRequest). The handler
// runs off the actor (inbox.go); handled finishes.
func (a *activation) handle(c actor.Context, req *messages.GrainRequest, decoded any) {
	if a.h.tracer != nil {
		a.endTrace = a.traceReceive(req)
	}
	if !a.admit(c) {
		return
	}
	if resp, ok := a.appliedReply(req); ok {
		// A retry of a request applied before (its answer was lost): the
		// same answer, without applying it again.
		resp.Member, resp.ActivationId = a.h.cfg.Member, a.id
		a.reply(c, resp)
		return
	}
	a.run(c, requestDeadline(req), func(gc actors.GrainContext) ([]byte, error) { return a.receive(gc, req, decoded) },
		func(c actor.Context, out []byte, err, perr error) { a.handled(c, req, out, err, perr) })
}

// handled stores what the handler of req changed and answers it.
func (a *activation) handled(c actor.Context, req *messages.GrainRequest, out []byte, err, perr error) {
	if perr != nil {
		// A panic may have left the grain's state half-updated: answer and
		// deactivate, so the next message starts from a fresh activation.
		a.log.Warn("grain panicked; deactivating", "err", perr)
		a.reply(c, grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_HANDLER, perr.Error(), ""))
		a.retire(c, grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_UNAVAILABLE, "activation deactivated after a panic", ""))
		return
	}
	if err != nil {
		a.revertState() // a failed call changes nothing
		a.reply(c, &messages.GrainResponse{Member: a.h.cfg.Member, ActivationId: a.id,
			Error: &messages.GrainError{Code: handlerErrorCode(err), Message: err.Error()}})
		return
	}
	if a.h.leaseLost() || a.fencedSinceClaim() {
		a.fence(c) // no write after the lease lapsed (the write is fenced too)
		return
	}
	if resp := a.saveState(c, req, out); resp != nil {
		resp.Member, resp.ActivationId = a.h.cfg.Member, a.id
		a.reply(c, resp)
		return
	}
	a.reply(c, &messages.GrainResponse{Payload: out, Member: a.h.cfg.Member, ActivationId: a.id})
}

// reply sends the handler's answer unless the member fenced while the
// handler ran. The process can pause between the check before the handler
// and this point; by the time it runs again Consul may have released the
// claim and another member's activation may have answered for the identity.
// An answer from this one would then contradict it, so it is replaced by
// UNAVAILABLE (the caller retries, and reaches the new holder) and the
// activation deactivates: its state may have diverged from the new one's.
// A member that is merely leaving still holds its claims and answers.
func (a *activation) reply(c actor.Context, resp *messages.GrainResponse) {
	if a.h.leaseLost() || a.fencedSinceClaim() {
		a.log.Warn("member fenced while the grain handled a message; its answer is dropped and the activation deactivated")
		a.fence(c)
		return
	}
	a.noteReply(resp)
	a.respond(c, resp)
}

// fencedSinceClaim reports whether the member fenced after this
// activation claimed its identity: the claim may be lost although the
// member may be unfenced again (with a new session, not holding it).
func (a *activation) fencedSinceClaim() bool { return a.h.fences.Load() != a.epoch }

// fence answers the current message, and every later one, with
// UNAVAILABLE and deactivates the activation: its member may no longer
// hold the claim.
func (a *activation) fence(c actor.Context) {
	a.refuse(c, a.fencedResponse())
	a.respond(c, a.refusal)
}

func (a *activation) fencedResponse() *messages.GrainResponse {
	return grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_UNAVAILABLE, fmt.Sprintf("member %s is fenced or leaving", a.h.cfg.Member), "")
}

func (a *activation) deactivate() {
	a.refuseQueued(a.refusalOr("activation deactivated"))
	if !a.claimed {
		return
	}
	a.claimed = false
	defer a.h.active.Add(-1)
	defer a.h.byKind.add(a.kind.Name(), -1)
	if a.abandoned {
		// Its hung handler still holds the grain, its timers and
		// reminders: none is touched. The claim stays with the member
		// for the replacement (releasing it could undo the replacement's
		// claim); a replacement's deactivation, or the session, ends it.
		a.log.Debug("abandoned grain activation stopped")
		return
	}
	a.stopTimers()
	if d, ok := a.grain.(actors.Deactivator); ok {
		gc, cancel := a.context(time.Now().Add(a.h.cfg.CallTimeout))
		_ = supervisor.Recover(func() { d.OnDeactivate(gc) })
		cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.h.cfg.DirectoryTimeout)
	defer cancel()
	if err := a.h.cfg.Directory.Release(ctx, a.kind.Name(), a.identity, a.h.cfg.Member); err != nil {
		a.log.Warn("releasing the activation claim failed; it ends with the member's session", "err", err)
	}
	a.log.Debug("grain deactivated")
}

// grainContext implements actors.GrainContext.
type grainContext struct {
	context.Context
	a *activation
}

func (a *activation) context(deadline time.Time) (*grainContext, context.CancelFunc) {
	ctx, cancel := context.WithDeadline(a.parentContext(), deadline)
	return &grainContext{Context: ctx, a: a}, cancel
}

func (g *grainContext) Identity() string     { return g.a.identity }
func (g *grainContext) Kind() string         { return g.a.kind.Name() }
func (g *grainContext) ActivationID() string { return g.a.id }
func (g *grainContext) MemberID() string     { return g.a.h.cfg.Member }
func (g *grainContext) Logger() *slog.Logger { return g.a.log }
