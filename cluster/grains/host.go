package grains

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/cluster/grainstate"
	"github.com/granary-rt/granary/cluster/placement"
	"github.com/granary-rt/granary/cluster/tracing"
	"github.com/granary-rt/granary/messages"
	"go.opentelemetry.io/otel/trace"
)

// The grain call's errors are Granary's shared sentinels (cluster/errs)
// under this package's names, so a grain error keeps its meaning across
// members, the HTTP API and the client with no translation.
var (
	// ErrNoHost: no live member hosts the kind; retried until the deadline.
	ErrNoHost = errs.New("no live member hosts this grain kind", errs.ErrUnavailable)
	// ErrUnavailable: the call could not be delivered before its deadline;
	// the message was not processed.
	ErrUnavailable = errs.ErrUnavailable
	// ErrInvalidArgument: unknown kind or a request the kind rejects.
	ErrInvalidArgument = errs.ErrInvalidArgument
	// ErrHandler: the grain processed the message and returned an error.
	ErrHandler = errs.ErrHandler
	// ErrConflict: the request id was applied before to another request;
	// nothing was done. It is errs.ErrAlreadyExists, as a task id reused
	// for another task (HTTP 409).
	ErrConflict = errs.ErrAlreadyExists
	// ErrResourceExhausted: the member is at its limit of activations, or
	// the grain's queue is full; nothing was done. Retry after a moment.
	ErrResourceExhausted = errs.ErrResourceExhausted
	// ErrStateConflict: a durable grain's state changed since the version
	// its activation read (another activation wrote it, or the activation
	// lost its claim); the write was refused. It is
	// grainstate.ErrStateConflict, which a StateStore's SaveState returns
	// (wrapped).
	ErrStateConflict = grainstate.ErrStateConflict
)

// RouterName is the name of a member's router actor. It carries the member
// id, so several members can share one actor system in tests, and a request
// reaching a restarted process under the same address but another member id
// is not delivered (dead letter) rather than misrouted.
func RouterName(member string) string { return "grains-" + member }

// Member is a cluster member as grain routing sees it.
type Member struct {
	ID    string
	Addr  string // actor system address (host:port of remoting)
	Kinds []string
}

// Host routes grain calls and hosts this member's activations.
type Host struct {
	cfg    Config
	log    *slog.Logger
	sys    *actor.ActorSystem
	router *actor.PID
	hosted map[string]bool

	mu    sync.Mutex
	view  []Member
	addr  map[string]string              // member id -> address
	table *placement.Table               // placement over view
	calls map[string]map[*reply]struct{} // member id -> replies of calls in flight to it
	cache map[string]string              // kind/identity -> holder learned from NOT_OWNER

	active atomic.Int64
	byKind kindCounts
	// hung counts abandoned handlers still running.
	hung    atomic.Int64
	leaving atomic.Bool
	// fences counts Fence calls. An activation claimed before the latest
	// one may have lost its claim even if the member is unfenced again by
	// the time it looks (a handler that outlasted a fence and an unfence).
	fences   atomic.Uint64
	electors *electors
	// sched fires the due reminders of the shards this member owns; nil
	// when the state store keeps no reminder index.
	sched *scheduler
	// reminderIndex is Config.State when it keeps a reminder index; nil
	// otherwise (reminders are refused).
	reminderIndex ReminderStore
	// tracer is nil while tracing is off.
	tracer trace.Tracer
	// dispatch runs the router's and the activations' mailboxes.
	dispatch *warmDispatcher
}

// New creates a Host; Start spawns its router.
func New(cfg Config) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, log: cfg.Logger, sys: cfg.System, hosted: map[string]bool{},
		addr: map[string]string{}, calls: map[string]map[*reply]struct{}{}, cache: map[string]string{},
		dispatch: newWarmDispatcher(dispatchThroughput, dispatchLinger)}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	kinds := cfg.Kinds
	if kinds == nil {
		kinds = cfg.Registry.GrainKinds()
	}
	for _, k := range kinds {
		if _, err := cfg.Registry.Grain(k); err != nil {
			return nil, fmt.Errorf("grains: hosted kind: %w", err)
		}
		h.hosted[k] = true
	}
	h.table = placement.NewTable(nil)
	h.tracer = tracing.Tracer(cfg.TracerProvider, "cluster/grains")
	h.byKind = newKindCounts(h.hosted)
	cfg.Metrics.ReadActivations(h.readActivations)
	cfg.Metrics.ReadHungHandlers(h.HungHandlers)
	for _, kind := range cfg.Registry.GrainKinds() {
		cfg.Metrics.Grain(kind) // series at 0 from the start, for rate() and increase()
	}
	// Whether the store keeps a reminder index is checked here, once.
	if rs, ok := cfg.State.(ReminderStore); ok {
		h.reminderIndex = rs
		h.sched = newScheduler(h, rs)
	}
	return h, nil
}

// HostedKinds lists the grain kinds this member hosts.
func (h *Host) HostedKinds() []string {
	out := make([]string, 0, len(h.hosted))
	for k := range h.hosted {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Start spawns the router actor.
func (h *Host) Start() error {
	pid, err := h.sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return newRouter(h)
	}, actor.WithDispatcher(h.dispatch)), RouterName(h.cfg.Member))
	if err != nil {
		return fmt.Errorf("grains: spawning the router: %w", err)
	}
	h.router = pid
	h.startSingletons()
	if h.sched != nil {
		h.sched.start()
	}
	return nil
}

// SetView replaces the membership view. Calls in flight to members that
// left fail over at once.
func (h *Host) SetView(members []Member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := map[string]bool{}
	pm := make([]placement.Member, 0, len(members))
	h.addr = map[string]string{}
	for _, m := range members {
		now[m.ID] = true
		h.addr[m.ID] = m.Addr
		pm = append(pm, placement.Member{ID: m.ID, Kinds: m.Kinds})
	}
	for id, replies := range h.calls {
		if !now[id] {
			// Answer the calls waiting on a member that left: they fail
			// over now instead of waiting out their time-out (unless the
			// member's answer came first: the first answer stands).
			for r := range replies {
				r.deliver(&memberLeft{member: id})
			}
			delete(h.calls, id)
		}
	}
	for k, holder := range h.cache {
		if !now[holder] {
			delete(h.cache, k)
		}
	}
	h.view = members
	h.table = placement.NewTable(pm)
	if h.sched != nil {
		h.sched.send(ownShards{shards: ownedShards(members, h.cfg.Member)})
	}
}

// View is the current membership view.
func (h *Host) View() []Member {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Member(nil), h.view...)
}

// Activations is the number of live activations on this member.
func (h *Host) Activations() int { return int(h.active.Load()) }

// route picks the member to send (kind, identity) to: a holder learned from
// the directory, else the placement owner.
func (h *Host) route(kind, identity string) (id, addr string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id, ok = h.cache[kind+"/"+identity]
	if !ok {
		if id, ok = h.table.Owner(kind, identity); !ok {
			return "", "", false
		}
	}
	addr, ok = h.addr[id]
	return id, addr, ok
}

// memberLeft answers a call whose member left the view.
type memberLeft struct{ member string }

// track registers a call's reply under its member, unless the member has
// already left the view.
func (h *Host) track(member string, f *reply) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, live := h.addr[member]; !live {
		return false
	}
	set := h.calls[member]
	if set == nil {
		set = map[*reply]struct{}{}
		h.calls[member] = set
	}
	set[f] = struct{}{}
	return true
}

func (h *Host) untrack(member string, f *reply) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.calls[member], f)
}

func (h *Host) learn(kind, identity, holder string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, live := h.addr[holder]; live && holder != "" {
		h.cache[kind+"/"+identity] = holder
	} else {
		delete(h.cache, kind+"/"+identity)
	}
}

// cached reports whether calls to (kind, identity) go to a holder learned
// from a redirect rather than to the placement owner.
func (h *Host) cached(kind, identity string) bool {
	if h.tracer == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.cache[kind+"/"+identity]
	return ok
}

func (h *Host) forget(kind, identity string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.cache, kind+"/"+identity)
}

// Call delivers payload to the grain (kind, identity) and returns its answer.
// It retries with backoff while the message was certainly not processed
// (no owner yet, owner gone, redirected, fenced, leaving), within ctx's
// deadline (or CallTimeout). A handler's error comes back as ErrHandler with
// the response; a time-out while the owner may be processing is not retried.
func (h *Host) Call(ctx context.Context, kind, identity string, payload []byte) (*messages.GrainResponse, error) {
	return h.CallOnce(ctx, kind, identity, "", payload)
}

// CallOnce is Call with a request id, which the caller keeps across its
// own retries: a grain with durable state applies each request id once,
// and answers a retry with the answer it stored. Empty: Call.
func (h *Host) CallOnce(ctx context.Context, kind, identity, requestID string, payload []byte) (_ *messages.GrainResponse, err error) {
	if h.cfg.Metrics != nil {
		start := time.Now()
		defer func() { h.observeCall(kind, start, err) }()
	}
	if h.tracer != nil {
		return h.tracedCall(ctx, kind, identity, requestID, payload)
	}
	return h.callOnce(ctx, kind, identity, requestID, payload)
}

func (h *Host) callOnce(ctx context.Context, kind, identity, requestID string, payload []byte) (*messages.GrainResponse, error) {
	if requestID != "" && !api.ValidID(requestID) {
		return nil, fmt.Errorf("%w: request id %.140q must match %s", ErrInvalidArgument, requestID, api.IDPattern)
	}
	gk, err := h.cfg.Registry.Grain(kind)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	if gk.IsSingleton() {
		identity = SingletonIdentity
	}
	if !api.ValidID(identity) {
		// Identities name Consul keys and travel in URL paths.
		return nil, fmt.Errorf("%w: identity %.140q must match %s", ErrInvalidArgument, identity, api.IDPattern)
	}
	decoded, err := gk.Check(payload) // decoded once: see localRequest
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.cfg.CallTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	return h.deliver(ctx, &messages.GrainRequest{Kind: kind, Identity: identity, Payload: payload, DeadlineUnixNano: deadline.UnixNano(), RequestId: requestID}, decoded)
}

// deliver sends req, retrying while it was certainly not processed, until
// ctx's deadline (which it must have). decoded (nil: none) is req's
// payload as GrainKind.Check decoded it, for the first try only
// (localRequest).
func (h *Host) deliver(ctx context.Context, req *messages.GrainRequest, decoded any) (*messages.GrainResponse, error) {
	kind, identity := req.GetKind(), req.GetIdentity()
	deadline, _ := ctx.Deadline()
	var last error
	for try := 1; ; try++ {
		resp, err := h.send(ctx, req, decoded)
		decoded = nil
		switch {
		case err == nil && resp.GetError() == nil:
			return resp, nil
		case err == nil && final(resp.GetError().GetCode()) != nil:
			// The table's codes other than UNAVAILABLE end the call; a
			// HANDLER answer keeps its response (its payload may say more).
			ferr := fmt.Errorf("%w: %s", final(resp.GetError().GetCode()), resp.GetError().GetMessage())
			if resp.GetError().GetCode() != messages.GrainErrorCode_GRAIN_ERROR_CODE_HANDLER {
				resp = nil
			}
			return resp, ferr
		case err == nil && resp.GetError().GetCode() == messages.GrainErrorCode_GRAIN_ERROR_CODE_NOT_OWNER:
			h.learn(kind, identity, resp.GetError().GetHolder())
			last = fmt.Errorf("redirected to %s", resp.GetError().GetHolder())
			if try%4 != 0 { // follow a redirect at once, but not in a tight loop
				continue
			}
		case err == nil:
			h.forget(kind, identity)
			last = errors.New(resp.GetError().GetMessage())
		case errors.Is(err, errMaybeProcessed):
			return nil, fmt.Errorf("%w: %w", ctx.Err(), err)
		default:
			h.forget(kind, identity)
			last = err
		}
		delay := h.cfg.Retry.Delay(try, mrand.Float64())
		if time.Until(deadline) <= delay+minTry {
			// No time for another try: say why the last one failed.
			return nil, fmt.Errorf("%w: %s/%s after %d tries: %v: %w", ErrUnavailable, kind, identity, try, last, context.DeadlineExceeded)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %s/%s after %d tries: %v: %w", ErrUnavailable, kind, identity, try, last, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// final is the sentinel of an answer's code that ends the call (errs.Table),
// nil for one that is retried (UNAVAILABLE, NOT_OWNER, EXPIRED) or none.
func final(code messages.GrainErrorCode) error {
	w, ok := errs.ByGrain(int32(code))
	if !ok || w.Err == errs.ErrUnavailable {
		return nil
	}
	return w.Err
}

// minTry is the least time worth starting another try with: a try cut off
// by the deadline cannot tell "not processed" from "processed, no answer".
const minTry = 50 * time.Millisecond

// errMaybeProcessed: the owner got the message but did not answer in time.
var errMaybeProcessed = errors.New("no answer before the deadline; the grain may have processed the message")

// send makes one try. Errors other than errMaybeProcessed mean the message
// was not processed.
func (h *Host) send(ctx context.Context, req *messages.GrainRequest, decoded any) (resp *messages.GrainResponse, err error) {
	member, addr, ok := h.route(req.Kind, req.Identity)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoHost, req.Kind)
	}
	if req, span := h.traceRoute(ctx, req, member, h.cached(req.Kind, req.Identity)); span != nil {
		defer func() { endGrainSpan(span, resp, err) }()
		return h.sendTo(ctx, req, decoded, member, addr)
	}
	return h.sendTo(ctx, req, decoded, member, addr)
}

// sendTo makes one try at member, at addr.
func (h *Host) sendTo(ctx context.Context, req *messages.GrainRequest, decoded any, member, addr string) (*messages.GrainResponse, error) {
	// The caller waits on the reply itself (no helper goroutine); a view
	// change that drops the member answers it with memberLeft. Tracked
	// before it is sent: a member that left already gets nothing.
	r := newReply(h.sys)
	if !h.track(member, r) {
		h.sys.ProcessRegistry.Remove(r.pid)
		return nil, fmt.Errorf("member %s left the cluster", member)
	}
	defer h.untrack(member, r)
	h.sys.Root.RequestWithCustomSender(actor.NewPID(addr, RouterName(member)), h.message(req, decoded, member, addr), r.pid)
	v, err := r.wait(ctx)
	if err != nil {
		return nil, errMaybeProcessed
	}
	switch v := v.(type) {
	case *messages.GrainResponse:
		return v, nil
	case *memberLeft:
		return nil, fmt.Errorf("member %s left the cluster during the call", v.member)
	case *actor.DeadLetterResponse:
		return nil, fmt.Errorf("member %s has no grain router", member)
	default:
		return nil, fmt.Errorf("unexpected answer %T from member %s", v, member)
	}
}

type ping struct{}

// Ping does a round trip through the member's router actor, so a wedged
// actor system fails health checks while the process is alive.
func (h *Host) Ping(ctx context.Context) error {
	if h.router == nil {
		return errors.New("grains: not started")
	}
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if _, err := h.sys.Root.RequestFuture(h.router, &ping{}, timeout).Result(); err != nil {
		return fmt.Errorf("grain router round trip: %w", err)
	}
	return nil
}

// Stop deactivates every activation on this member (releasing their
// claims) and refuses new ones, waiting until ctx ends at most.
func (h *Host) Stop(ctx context.Context) error {
	h.leaving.Store(true)
	defer h.dispatch.stop()
	if h.router == nil {
		return nil
	}
	// Last, the router itself: its name is the member's, so a member
	// started again with the same id on a shared actor system (an
	// application restarting its node, a Start that failed and is tried
	// again) could not spawn it while it lingered.
	defer func() { _ = h.sys.Root.StopFuture(h.router).Wait() }()
	if h.sched != nil {
		h.sched.stop()
	}
	h.stopSingletons()
	h.sys.Root.Send(h.router, &deactivateAll{reason: "member leaving"})
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for h.active.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("grains: %d activations still live: %w", h.active.Load(), ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// Fence deactivates every activation at once: the member lost (or may have
// lost) its claims. New activations are refused while fenced() holds.
func (h *Host) Fence() {
	h.fences.Add(1)
	if h.router != nil {
		h.sys.Root.Send(h.router, &deactivateAll{reason: "member self-fenced"})
	}
}

// fenced reports whether this member takes no new work: it is leaving, or
// it may have lost its claims (leaseLost).
func (h *Host) fenced() bool {
	return h.leaving.Load() || h.leaseLost()
}

// leaseLost reports whether the member may no longer hold its claims, so
// another member may be answering for its identities. Unlike leaving, it
// also forbids finishing work already begun.
func (h *Host) leaseLost() bool {
	return h.cfg.Fenced != nil && h.cfg.Fenced()
}

func newActivationID() string {
	var b [8]byte
	_, _ = cryptoRead(b[:])
	return "a-" + hex.EncodeToString(b[:])
}

var cryptoRead = rand.Read
