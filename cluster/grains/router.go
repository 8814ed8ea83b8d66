package grains

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"go.opentelemetry.io/otel/trace"
)

type (
	deactivateAll struct{ reason string }
	// retireMe asks the router to stop routing to an activation.
	retireMe struct{ pid *actor.PID }
	// retire is the router's last message to an activation: everything
	// forwarded before it has been answered, so the activation may stop
	// without losing a request in its mailbox.
	retire struct{ reason string }
)

// router is the member's entry point for grain requests: it forwards each to
// the identity's activation, creating it on first use.
type router struct {
	h      *Host
	active map[string]*actor.PID // kind/identity -> activation
	keys   map[string]string     // activation PID id -> kind/identity
}

func (r *router) Receive(c actor.Context) {
	switch msg := c.Message().(type) {
	case *messages.GrainRequest:
		r.route(c, msg)
	case *localRequest:
		r.route(c, msg.req) // forwards msg itself
	case *ping:
		c.Respond(msg)
	case *census:
		c.Respond(r.census(msg.sample))
	case *activate:
		// A singleton whose lock this member holds: activate it eagerly.
		kind, err := r.h.cfg.Registry.Grain(msg.kind)
		if _, ok := r.active[msg.kind+"/"+SingletonIdentity]; !ok && err == nil && !r.h.fenced() {
			r.spawn(c, kind, SingletonIdentity)
		}
	case *deactivateAll:
		for key, pid := range r.active {
			delete(r.active, key)
			c.Send(pid, &retire{reason: msg.reason})
		}
	case *retireMe:
		if key, ok := r.keys[msg.pid.Id]; ok && samePID(r.active[key], msg.pid) {
			delete(r.active, key)
		}
		c.Send(msg.pid, &retire{})
	case *actor.Terminated:
		if key, ok := r.keys[msg.Who.Id]; ok {
			delete(r.keys, msg.Who.Id)
			if samePID(r.active[key], msg.Who) {
				delete(r.active, key)
			}
		}
	}
}

func (r *router) route(c actor.Context, req *messages.GrainRequest) {
	if r.h.fenced() {
		c.Respond(grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_UNAVAILABLE, fmt.Sprintf("member %s is fenced or leaving", r.h.cfg.Member), ""))
		return
	}
	kind, err := r.h.cfg.Registry.Grain(req.GetKind())
	if err != nil {
		c.Respond(grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_INVALID_ARGUMENT, err.Error(), ""))
		return
	}
	if !r.h.hosted[req.GetKind()] {
		// The caller's view is stale or wrong: this member does not host it.
		c.Respond(grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_UNAVAILABLE, fmt.Sprintf("member %s does not host grain kind %s", r.h.cfg.Member, req.GetKind()), ""))
		return
	}
	identity := req.GetIdentity()
	if kind.IsSingleton() {
		identity = SingletonIdentity
	}
	key := req.GetKind() + "/" + identity
	pid, ok := r.active[key]
	if !ok {
		pid = r.spawn(c, kind, identity)
	}
	c.Forward(pid)
}

func (r *router) spawn(c actor.Context, kind *actors.GrainKind, identity string) *actor.PID {
	a := &activation{h: r.h, kind: kind, identity: identity, id: newActivationID()}
	pid := c.Spawn(actor.PropsFromProducer(func() actor.Actor { return a }, actor.WithSupervisor(stopOnFailure), actor.WithDispatcher(r.h.dispatch)))
	key := kind.Name() + "/" + identity
	r.active[key] = pid
	r.keys[pid.Id] = key
	return pid
}

func samePID(a, b *actor.PID) bool { return a != nil && b != nil && a.Equal(b) }

// stopOnFailure: an activation that crashes outside its handler is stopped,
// not restarted; the next message activates the grain afresh.
var stopOnFailure = actor.NewOneForOneStrategy(0, time.Second, func(interface{}) actor.Directive { return actor.StopDirective })

// handlerErrorCode classifies a handler's error: a request the kind
// refuses (a payload that does not decode, a reminder outside its limits)
// is an invalid argument, which changed nothing; anything else is the
// handler's failure.
func handlerErrorCode(err error) messages.GrainErrorCode {
	if errors.Is(err, actors.ErrInvalidPayload) || errors.Is(err, actors.ErrInvalidReminder) {
		return messages.GrainErrorCode_GRAIN_ERROR_CODE_INVALID_ARGUMENT
	}
	return messages.GrainErrorCode_GRAIN_ERROR_CODE_HANDLER
}

func grainErr(code messages.GrainErrorCode, msg, holder string) *messages.GrainResponse {
	return &messages.GrainResponse{Error: &messages.GrainError{Code: code, Message: msg, Holder: holder}}
}

// activation is one grain instance. It claims the identity in the directory
// before processing anything; a member that does not get the claim answers
// every message with the holder and stops.
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
}

func (a *activation) Receive(c actor.Context) {
	switch msg := c.Message().(type) {
	case *actor.Started:
		a.log = a.h.log.With("grain", a.kind.Name(), "identity", a.identity, "activation", a.id)
		a.self, a.lastRequest = c.Self(), time.Now()
		a.activate(c)
	case *messages.GrainRequest:
		a.lastRequest = time.Now()
		if msg.GetReminder() != nil {
			a.fireReminder(c, msg)
		} else {
			a.handle(c, msg, nil)
		}
	case *localRequest:
		a.lastRequest = time.Now()
		a.handle(c, msg.req, msg.decoded)
	case *timerFired:
		a.onTimer(c, msg)
	case *actor.ReceiveTimeout:
		a.log.Debug("grain idle; deactivating")
		a.retire(c, nil)
	case *retire:
		if msg.reason != "" {
			a.refusal = grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_UNAVAILABLE, msg.reason, "")
		}
		c.Stop(c.Self())
	case *actor.Stopping:
		a.deactivate()
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
		c.Send(c.Parent(), &retireMe{pid: c.Self()})
	}
}

// admit reports whether the activation takes a request; if not, it has
// answered it.
func (a *activation) admit(c actor.Context) bool {
	if a.refusal != nil {
		c.Respond(a.refusal)
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
// GrainKind.Check decoded it, in this process (localRequest).
func (a *activation) handle(c actor.Context, req *messages.GrainRequest, decoded any) {
	if a.h.tracer != nil {
		defer a.traceReceive(req)()
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
	gc, cancel := a.context(time.Unix(0, req.GetDeadlineUnixNano()))
	defer cancel()
	var out []byte
	var err error
	if perr := supervisor.Recover(func() { out, err = a.receive(gc, req, decoded) }); perr != nil {
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
	c.Respond(resp)
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
	c.Respond(a.refusal)
}

func (a *activation) fencedResponse() *messages.GrainResponse {
	return grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_UNAVAILABLE, fmt.Sprintf("member %s is fenced or leaving", a.h.cfg.Member), "")
}

func (a *activation) deactivate() {
	if !a.claimed {
		return
	}
	a.claimed = false
	defer a.h.active.Add(-1)
	defer a.h.byKind.add(a.kind.Name(), -1)
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
