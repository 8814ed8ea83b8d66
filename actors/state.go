package actors

import (
	"encoding/json"
	"fmt"
	"reflect"

	"google.golang.org/protobuf/proto"
)

// Durable is implemented by grains whose state outlives their activation
// (GrainWithState makes such kinds). The runtime gives a new activation
// its state as last stored before its first message, and after each
// message stores the state as it then is, before the reply leaves, unless
// it is unchanged (byte for byte once encoded). A message whose handler
// failed, or whose state could not be stored, leaves the state as last
// stored: the runtime loads that back.
type Durable interface {
	// LoadState sets the grain's state from its stored form; nil: none
	// stored yet (the zero state).
	LoadState(data []byte) error
	// State is the grain's state in its stored form.
	State() ([]byte, error)
}

// StatefulGrain is a typed grain with durable state: each message gets the
// state as it stands, and the handler returns the state to store with its
// answer. Return the state unchanged to store nothing.
type StatefulGrain[Req, Resp, State any] interface {
	Receive(ctx GrainContext, state State, req Req) (State, Resp, error)
}

// GrainWithState defines a typed grain kind with durable state: Req, Resp
// and State are Go types (strict JSON) or proto messages (protojson). The
// state is stored by the grain's member, fenced by its claim on the
// identity: an activation that lost its claim (its member paused,
// partitioned or declared dead) can never overwrite what its successor
// stored.
func GrainWithState[Req, Resp, State any](name string, factory func() StatefulGrain[Req, Resp, State], opts ...GrainOption) (*GrainKind, error) {
	in, out, st := CodecFor[Req](), CodecFor[Resp](), stateCodecFor[State]()
	k, err := NewGrain(name, func() Grain { return &statefulGrain[Req, Resp, State]{g: factory(), in: in, out: out, st: st} }, opts...)
	if err != nil {
		return nil, err
	}
	k.decode = func(p []byte) (any, error) { return in.Decode(p) }
	k.durable = true
	if err := k.checkExample(); err != nil {
		return nil, err
	}
	return k, nil
}

type statefulGrain[Req, Resp, State any] struct {
	g     StatefulGrain[Req, Resp, State]
	in    Codec[Req]
	out   Codec[Resp]
	st    Codec[State]
	state State
}

func (s *statefulGrain[Req, Resp, State]) Receive(ctx GrainContext, msg []byte) ([]byte, error) {
	req, err := s.in.Decode(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	return s.receive(ctx, req)
}

// ReceiveDecoded implements DecodedReceiver.
func (s *statefulGrain[Req, Resp, State]) ReceiveDecoded(ctx GrainContext, req any) ([]byte, error) {
	r, ok := req.(Req)
	if !ok {
		return nil, fmt.Errorf("%w: a %T, not the kind's request type", ErrInvalidPayload, req)
	}
	return s.receive(ctx, r)
}

func (s *statefulGrain[Req, Resp, State]) receive(ctx GrainContext, req Req) ([]byte, error) {
	next, resp, err := s.g.Receive(ctx, s.state, req)
	if err != nil {
		return nil, err
	}
	s.state = next
	return s.out.Encode(resp)
}

func (s *statefulGrain[Req, Resp, State]) LoadState(data []byte) error {
	v, err := s.st.Decode(data)
	if err != nil {
		return fmt.Errorf("decoding the stored state: %w", err)
	}
	s.state = v
	return nil
}

func (s *statefulGrain[Req, Resp, State]) State() ([]byte, error) { return s.st.Encode(s.state) }

func (s *statefulGrain[Req, Resp, State]) OnActivate(ctx GrainContext) error {
	if a, ok := s.g.(Activator); ok {
		return a.OnActivate(ctx)
	}
	return nil
}

func (s *statefulGrain[Req, Resp, State]) OnDeactivate(ctx GrainContext) {
	if d, ok := s.g.(Deactivator); ok {
		d.OnDeactivate(ctx)
	}
}

// IsDurable reports whether the kind's grains have durable state.
func (k *GrainKind) IsDurable() bool { return k.durable }

// stateCodecFor is the stored form of a grain's state. Unlike requests,
// state outlives the code that wrote it, so decoding is lenient (unknown
// fields are ignored: a field removed from State does not strand stored
// states), and encoding is stable byte for byte, so an unchanged state is
// recognised and not stored again: JSON for Go types, deterministic binary
// protobuf for proto messages (protojson is not stable by design).
func stateCodecFor[T any]() Codec[T] {
	var zero T
	if _, ok := any(zero).(proto.Message); ok {
		return protoStateCodec[T]{}
	}
	return jsonStateCodec[T]{}
}

type jsonStateCodec[T any] struct{}

func (jsonStateCodec[T]) Decode(data []byte) (T, error) {
	var v T
	if len(data) == 0 {
		return v, nil
	}
	err := json.Unmarshal(data, &v)
	return v, err
}

func (jsonStateCodec[T]) Encode(v T) ([]byte, error) { return json.Marshal(v) }

type protoStateCodec[T any] struct{}

func (protoStateCodec[T]) Decode(data []byte) (T, error) {
	var zero T
	msg := reflect.New(reflect.TypeOf(zero).Elem()).Interface().(proto.Message)
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, msg); err != nil {
		return zero, err
	}
	return msg.(T), nil
}

func (protoStateCodec[T]) Encode(v T) ([]byte, error) {
	m := any(v).(proto.Message)
	if reflect.ValueOf(m).IsNil() {
		return nil, nil
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}
