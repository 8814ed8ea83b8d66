package actors

import (
	"encoding/json"
	"fmt"
	"time"
)

// Grain is a stateful virtual actor: one instance per identity, activated on
// its first message, handling one message at a time. Its fields are its
// state; nothing else touches them.
type Grain interface {
	Receive(ctx GrainContext, msg []byte) ([]byte, error)
}

// Activator is implemented by grains that load state when activated. An
// error fails the activation and the message that caused it.
type Activator interface {
	OnActivate(ctx GrainContext) error
}

// Deactivator is implemented by grains that save or release state before
// their activation ends (idle time-out, member leaving).
type Deactivator interface {
	OnDeactivate(ctx GrainContext)
}

// GrainKind is a registered kind of grain.
type GrainKind struct {
	name      string
	factory   func() Grain
	decode    func([]byte) (any, error) // typed kinds: the request codec's Decode; nil: any payload
	singleton bool
	durable   bool // GrainWithState: its state is stored
	// handlerTimeout bounds one handler call (0: the member's default).
	handlerTimeout time.Duration
	example        []byte // GrainExample
}

// GrainOption configures a grain kind.
type GrainOption func(*GrainKind)

// Singleton makes the kind a cluster singleton (a leader role): at most one
// activation in the whole cluster, whatever identity a call names. The
// members hosting the kind stand by warm; one holds a Consul session lock
// and runs the activation, activated eagerly and never deactivated for
// idleness; when its session ends, a standby takes the lock and activates.
func Singleton() GrainOption { return func(k *GrainKind) { k.singleton = true } }

// HandlerTimeout bounds each call of the kind's handlers (Receive,
// OnReminder, OnTimer): the handler's context ends after d, or at the
// caller's deadline if that comes first, and a handler that has not
// returned a grace period later (grains.Config.AbandonGrace) is
// abandoned: the runtime answers for it, replaces its activation, and
// drops whatever it stores or answers later. Without this option the
// member's default applies (grains.Config.HandlerTimeout, 30s). A handler
// must honour its context: one that blocks past it keeps its goroutine
// and whatever it holds until it returns, abandoned or not. d must be
// positive.
func HandlerTimeout(d time.Duration) GrainOption {
	return func(k *GrainKind) { k.handlerTimeout = d }
}

// GrainExample gives the kind an example request (JSON), which `granary
// kinds`, GET /v1/kinds and the console show. A typed kind's constructor
// refuses an example that does not decode into its request type.
func GrainExample(request string) GrainOption {
	return func(k *GrainKind) { k.example = []byte(request) }
}

// Example returns the kind's example request (GrainExample), nil if it
// has none.
func (k *GrainKind) Example() []byte { return k.example }

// checkExample refuses an example that is not JSON or that the kind's
// request check refuses: the example shown must be one a call accepts.
func (k *GrainKind) checkExample() error {
	if k.example == nil {
		return nil
	}
	if !json.Valid(k.example) {
		return fmt.Errorf("%w: %s: example request %.60q is not JSON", ErrInvalidKind, k.name, k.example)
	}
	if err := k.Validate(k.example); err != nil {
		return fmt.Errorf("%w: %s: its example request %s fails its own check: %w", ErrInvalidKind, k.name, k.example, err)
	}
	return nil
}

// NewGrain defines an untyped grain kind; factory makes a fresh instance
// for each activation.
func NewGrain(name string, factory func() Grain, opts ...GrainOption) (*GrainKind, error) {
	if !kindName.MatchString(name) {
		return nil, fmt.Errorf("%w: name %q must match %s", ErrInvalidKind, name, kindName)
	}
	if factory == nil {
		return nil, fmt.Errorf("%w: %s: nil factory", ErrInvalidKind, name)
	}
	k := &GrainKind{name: name, factory: factory}
	for _, o := range opts {
		o(k)
	}
	if k.handlerTimeout < 0 {
		return nil, fmt.Errorf("%w: %s: negative handler time-out %v", ErrInvalidKind, name, k.handlerTimeout)
	}
	if err := k.checkExample(); err != nil {
		return nil, err
	}
	return k, nil
}

// TypedGrain is a grain whose requests and replies are Go types (strict
// JSON) or proto messages (protojson).
type TypedGrain[Req, Resp any] interface {
	Receive(ctx GrainContext, req Req) (Resp, error)
}

// GrainOf defines a typed grain kind. A request that does not decode into
// Req is rejected before it reaches the grain.
func GrainOf[Req, Resp any](name string, factory func() TypedGrain[Req, Resp], opts ...GrainOption) (*GrainKind, error) {
	in, out := CodecFor[Req](), CodecFor[Resp]()
	k, err := NewGrain(name, func() Grain { return typedGrain[Req, Resp]{g: factory(), in: in, out: out} }, opts...)
	if err != nil {
		return nil, err
	}
	k.decode = func(p []byte) (any, error) { return in.Decode(p) }
	if err := k.checkExample(); err != nil {
		return nil, err
	}
	return k, nil
}

type typedGrain[Req, Resp any] struct {
	g   TypedGrain[Req, Resp]
	in  Codec[Req]
	out Codec[Resp]
}

func (t typedGrain[Req, Resp]) Receive(ctx GrainContext, msg []byte) ([]byte, error) {
	req, err := t.in.Decode(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	return t.receive(ctx, req)
}

func (t typedGrain[Req, Resp]) receive(ctx GrainContext, req Req) ([]byte, error) {
	resp, err := t.g.Receive(ctx, req)
	if err != nil {
		return nil, err
	}
	return t.out.Encode(resp)
}

// ReceiveDecoded implements DecodedReceiver.
func (t typedGrain[Req, Resp]) ReceiveDecoded(ctx GrainContext, req any) ([]byte, error) {
	r, ok := req.(Req)
	if !ok {
		return nil, fmt.Errorf("%w: a %T, not the kind's request type", ErrInvalidPayload, req)
	}
	return t.receive(ctx, r)
}

func (t typedGrain[Req, Resp]) OnActivate(ctx GrainContext) error {
	if a, ok := t.g.(Activator); ok {
		return a.OnActivate(ctx)
	}
	return nil
}

func (t typedGrain[Req, Resp]) OnDeactivate(ctx GrainContext) {
	if d, ok := t.g.(Deactivator); ok {
		d.OnDeactivate(ctx)
	}
}

// Name is the kind's name.
func (k *GrainKind) Name() string { return k.name }

// HandlerTimeout is the kind's bound on one handler call; 0: the
// member's default.
func (k *GrainKind) HandlerTimeout() time.Duration { return k.handlerTimeout }

// IsSingleton reports whether the kind is a cluster singleton.
func (k *GrainKind) IsSingleton() bool { return k.singleton }

// New makes a fresh grain instance for an activation.
func (k *GrainKind) New() Grain { return k.factory() }

// Validate checks a request as a caller would; the error wraps
// ErrInvalidPayload.
func (k *GrainKind) Validate(msg []byte) error {
	_, err := k.Check(msg)
	return err
}

// Check is Validate that also returns the decoded request of a typed kind
// (GrainOf, GrainWithState; nil for an untyped kind), which the runtime
// hands to an activation in the same process (DecodedReceiver) instead
// of the bytes: a request is decoded once, not once to check it and again
// to handle it. The error is Validate's.
func (k *GrainKind) Check(msg []byte) (any, error) {
	if k.decode == nil {
		return nil, nil
	}
	v, err := k.decode(msg)
	if err != nil {
		return nil, fmt.Errorf("%w for grain kind %s: %w", ErrInvalidPayload, k.name, err)
	}
	return v, nil
}

// DecodedReceiver is implemented by the grains of typed kinds: Receive
// with the request already decoded by GrainKind.Check. The runtime calls
// it for a request checked in the same process; req is always the kind's
// request type.
type DecodedReceiver interface {
	ReceiveDecoded(ctx GrainContext, req any) ([]byte, error)
}
