package actors

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// TaskFunc is the untyped task handler: raw payload in, raw result out.
type TaskFunc func(ctx TaskContext, payload []byte) ([]byte, error)

// TaskKind is a registered kind of task: a name, a handler, the check a
// payload must pass at submit time, and the kind's supervision settings.
type TaskKind struct {
	name     string
	run      TaskFunc
	validate func(payload []byte) error
	settings Settings
	limits   Limits
	example  []byte
}

// KindOption configures a kind. An option that can be wrong returns an error
// from the kind's constructor.
type KindOption func(*kindOptions) error

type kindOptions struct {
	settings Settings
	limits   Limits
	validate func([]byte) error
	example  []byte
}

// WithSettings replaces the kind's default settings.
func WithSettings(s Settings) KindOption {
	return func(o *kindOptions) error { o.settings = s; return nil }
}

// WithMaxAttempts sets the default number of attempts.
func WithMaxAttempts(n int) KindOption {
	return func(o *kindOptions) error { o.settings.MaxAttempts = n; return nil }
}

// WithAttemptTimeout sets the default attempt time-out.
func WithAttemptTimeout(d time.Duration) KindOption {
	return func(o *kindOptions) error { o.settings.AttemptTimeout = d; return nil }
}

// WithHeartbeatTimeout sets the default heartbeat time-out.
func WithHeartbeatTimeout(d time.Duration) KindOption {
	return func(o *kindOptions) error { o.settings.HeartbeatTimeout = d; return nil }
}

// WithLimits replaces the bounds a submit's overrides must respect.
func WithLimits(l Limits) KindOption {
	return func(o *kindOptions) error { o.limits = l; return nil }
}

// WithExample gives the kind an example payload (JSON), which `granary
// kinds`, GET /v1/kinds and the console's submit form show: how a user
// learns what the kind takes. The kind's constructor refuses an example
// that is not JSON or that the kind's own payload checks refuse, so the
// example shown always submits.
func WithExample(payload string) KindOption {
	return func(o *kindOptions) error {
		if !json.Valid([]byte(payload)) {
			return fmt.Errorf("%w: example payload %.60q is not JSON", ErrInvalidKind, payload)
		}
		o.example = []byte(payload)
		return nil
	}
}

// WithValidator adds a payload check run at submit time, after decoding.
func WithValidator(check func(payload []byte) error) KindOption {
	return func(o *kindOptions) error {
		if check == nil {
			return fmt.Errorf("%w: nil validator", ErrInvalidKind)
		}
		prev := o.validate
		o.validate = func(p []byte) error {
			if prev != nil {
				if err := prev(p); err != nil {
					return err
				}
			}
			return check(p)
		}
		return nil
	}
}

// WithCheck adds a submit-time check of the decoded payload: a typed
// kind's In type usually has a Validate method to pass here
// (WithCheck(ResizeIn.Validate)), so a bad payload is refused at the door,
// nothing stored, instead of failing when the task runs. It decodes with
// the codec Task uses, so it sees what the handler will see.
func WithCheck[T any](check func(T) error) KindOption {
	if check == nil {
		return func(*kindOptions) error { return fmt.Errorf("%w: nil check", ErrInvalidKind) }
	}
	codec := CodecFor[T]()
	return WithValidator(func(p []byte) error {
		v, err := codec.Decode(p)
		if err != nil {
			return err
		}
		return check(v)
	})
}

var kindName = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

// NewTask defines an untyped task kind. Payloads are opaque bytes; add a
// WithValidator to reject bad ones at submit time.
func NewTask(name string, fn TaskFunc, opts ...KindOption) (*TaskKind, error) {
	if !kindName.MatchString(name) {
		return nil, fmt.Errorf("%w: name %q must match %s", ErrInvalidKind, name, kindName)
	}
	if fn == nil {
		return nil, fmt.Errorf("%w: %s: nil handler", ErrInvalidKind, name)
	}
	o := kindOptions{settings: DefaultSettings(), limits: DefaultLimits()}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("kind %s: %w", name, err)
		}
	}
	if err := o.settings.Check(o.limits); err != nil {
		return nil, fmt.Errorf("%w: %s: default settings: %w", ErrInvalidKind, name, err)
	}
	validate := o.validate
	if validate == nil {
		validate = func([]byte) error { return nil }
	}
	if o.example != nil {
		if err := validate(o.example); err != nil {
			return nil, fmt.Errorf("%w: %s: its example payload %s fails its own check: %w", ErrInvalidKind, name, o.example, err)
		}
	}
	return &TaskKind{name: name, run: fn, validate: validate, settings: o.settings, limits: o.limits, example: o.example}, nil
}

// Task defines a typed task kind: the payload decodes into In (strict JSON,
// or protojson for proto messages) and the result encodes from Out. A payload
// that does not decode is rejected at submit time. A payload that decodes at
// submit but not at run time (it cannot happen with the same binary) fails
// the task permanently.
func Task[In, Out any](name string, fn func(ctx TaskContext, in In) (Out, error), opts ...KindOption) (*TaskKind, error) {
	in, out := CodecFor[In](), CodecFor[Out]()
	decodeCheck := WithValidator(func(p []byte) error {
		_, err := in.Decode(p)
		return err
	})
	run := func(ctx TaskContext, payload []byte) ([]byte, error) {
		v, err := in.Decode(payload)
		if err != nil {
			return nil, Permanent(fmt.Errorf("%w: %w", ErrInvalidPayload, err))
		}
		res, err := fn(ctx, v)
		if err != nil {
			return nil, err
		}
		b, err := out.Encode(res)
		if err != nil {
			return nil, Permanent(fmt.Errorf("encoding the result: %w", err))
		}
		return b, nil
	}
	return NewTask(name, run, append([]KindOption{decodeCheck}, opts...)...)
}

// MustTask is Task that panics on an invalid definition, for package-level
// kind variables.
func MustTask[In, Out any](name string, fn func(ctx TaskContext, in In) (Out, error), opts ...KindOption) *TaskKind {
	k, err := Task(name, fn, opts...)
	if err != nil {
		panic(err)
	}
	return k
}

// Name is the kind's name.
func (k *TaskKind) Name() string { return k.name }

// Example returns the kind's example payload (WithExample), nil if it has
// none.
func (k *TaskKind) Example() []byte { return k.example }

// Settings are the kind's default settings.
func (k *TaskKind) Settings() Settings { return k.settings }

// Limits bound a submit's overrides.
func (k *TaskKind) Limits() Limits { return k.limits }

// Validate checks a payload as a submit would. The error wraps
// ErrInvalidPayload.
func (k *TaskKind) Validate(payload []byte) error {
	if err := k.validate(payload); err != nil {
		return fmt.Errorf("%w for kind %s: %w", ErrInvalidPayload, k.name, err)
	}
	return nil
}

// Resolve applies a submit's overrides to the kind's defaults within its
// limits.
func (k *TaskKind) Resolve(o Overrides) (Settings, error) {
	return o.Apply(k.settings, k.limits)
}

// Run runs the handler once. The runtime calls it; tests may too.
func (k *TaskKind) Run(ctx TaskContext, payload []byte) ([]byte, error) {
	return k.run(ctx, payload)
}

// ValidJSON is a validator for untyped kinds whose payload must be JSON.
func ValidJSON(p []byte) error {
	if !json.Valid(p) {
		return fmt.Errorf("payload is not valid JSON")
	}
	return nil
}
