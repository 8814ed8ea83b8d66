package actors

import (
	"errors"
	"fmt"
)

var (
	// ErrDuplicateKind is returned when a kind name is registered twice.
	ErrDuplicateKind = errors.New("kind already registered")
	// ErrUnknownKind is returned for a kind name that no registered kind has.
	ErrUnknownKind = errors.New("unknown kind")
	// ErrInvalidKind is returned for a kind whose definition is unusable.
	ErrInvalidKind = errors.New("invalid kind")
	// ErrInvalidPayload is returned when a payload does not decode into the
	// kind's payload type.
	ErrInvalidPayload = errors.New("invalid payload")
	// ErrInvalidPolicy is returned when submit-time overrides are malformed
	// or outside the kind's limits.
	ErrInvalidPolicy = errors.New("invalid policy")
	// ErrFenced is returned by TaskContext.Checkpoint to an attempt that
	// no longer holds its task: it ended (timed out, cancelled, restarted,
	// abandoned) or its member lost the task's claim. Nothing was saved;
	// the handler should return.
	ErrFenced = errors.New("attempt fenced: it no longer holds its task")
	// ErrCheckpointTooLarge is returned by TaskContext.Checkpoint for a
	// value whose encoding is over the runtime's bound. Nothing was saved.
	ErrCheckpointTooLarge = errors.New("checkpoint too large")
)

// permanentError marks an error as not worth retrying.
type permanentError struct{ err error }

func (p *permanentError) Error() string   { return p.err.Error() }
func (p *permanentError) Unwrap() error   { return p.err }
func (p *permanentError) Permanent() bool { return true }

// Permanent wraps err so that the supervisor stops the task as failed
// instead of retrying it: bad input, a missing resource, a refused
// operation. It survives further wrapping with %w. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error {
	return Permanent(fmt.Errorf(format, args...))
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent (or implements Permanent() bool returning true).
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}
