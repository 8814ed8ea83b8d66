package grains

import (
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/metrics"
	"github.com/granary-rt/granary/messages"
)

type (
	deactivateAll struct{ reason string }
	// retireMe asks the router to stop routing to an activation;
	// keepsClaim: it will not release its claim (it was abandoned), so a
	// replacement need not wait for it to end.
	retireMe struct {
		pid        *actor.PID
		keepsClaim bool
	}
	// retire is the router's last message to an activation: everything
	// forwarded before it has been answered, so the activation may stop
	// without losing a request in its mailbox.
	retire struct{ reason string }
)

// router is the member's entry point for grain requests: it forwards each to
// the identity's activation, creating it on first use, up to the member's
// limit of activations (limits.go).
type router struct {
	h      *Host
	active *table            // kind/identity -> activation, by last use
	keys   map[string]string // activation PID id -> kind/identity
	// leaving holds the identities whose retired activation has not
	// ended yet. It releases its claim as it ends, and the member's
	// claim is one for all its activations of the identity: a new one
	// started meanwhile would lose the claim it shares. So calls to a
	// leaving identity are answered UNAVAILABLE (retried) until it ends.
	leaving map[string]bool
}

func newRouter(h *Host) *router {
	return &router{h: h, active: newTable(), keys: map[string]string{}, leaving: map[string]bool{}}
}

// retire stops routing to key's activation pid and sends it its last
// message; it releases its claim as it ends unless keepsClaim.
func (r *router) retire(c actor.Context, key string, pid *actor.PID, msg *retire, keepsClaim bool) {
	if r.active.removeIf(key, pid) && !keepsClaim {
		r.leaving[key] = true
	}
	c.Send(pid, msg)
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
		if _, ok := r.active.get(msg.kind + "/" + SingletonIdentity); !ok && err == nil && !r.h.fenced() {
			r.spawn(c, kind, SingletonIdentity)
		}
	case *deactivateAll:
		r.active.each(func(key string, pid *actor.PID) { r.retire(c, key, pid, &retire{reason: msg.reason}, false) })
	case *retireMe:
		if key, ok := r.keys[msg.pid.Id]; ok {
			r.retire(c, key, msg.pid, &retire{}, msg.keepsClaim)
		} else {
			c.Send(msg.pid, &retire{})
		}
	case *actor.Terminated:
		if key, ok := r.keys[msg.Who.Id]; ok {
			delete(r.keys, msg.Who.Id)
			if !r.active.removeIf(key, msg.Who) {
				delete(r.leaving, key) // a retired one: its claim is released
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
	now := time.Now()
	pid, ok := r.active.get(key)
	switch {
	case ok:
		r.active.touch(key, now)
	case r.leaving[key]:
		c.Respond(grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_UNAVAILABLE, fmt.Sprintf("grain %s is deactivating on member %s; retry", key, r.h.cfg.Member), ""))
		return
	case !kind.IsSingleton() && !r.makeRoom(c, now):
		r.h.refused(kind.Name(), metrics.RefusedActivationLimit)
		c.Respond(grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_RESOURCE_EXHAUSTED, fmt.Sprintf(
			"member %s is at its limit of %d grain activations, all in use within the last %v; retry after a moment",
			r.h.cfg.Member, r.h.cfg.MaxActivations, r.h.cfg.PressureIdleTimeout), ""))
		return
	default:
		pid = r.spawn(c, kind, identity)
	}
	c.Forward(pid)
}

func (r *router) spawn(c actor.Context, kind *actors.GrainKind, identity string) *actor.PID {
	a := &activation{h: r.h, kind: kind, identity: identity, id: newActivationID()}
	pid := c.Spawn(actor.PropsFromProducer(func() actor.Actor { return a }, actor.WithSupervisor(stopOnFailure), actor.WithDispatcher(r.h.dispatch)))
	key := kind.Name() + "/" + identity
	r.active.add(key, pid, time.Now(), kind.IsSingleton())
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
