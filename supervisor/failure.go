package supervisor

import (
	"errors"
	"runtime"
	"strings"
	"time"
)

// Failure describes why a child failed.
type Failure struct {
	// Cause classifies the failure; deciders mostly look at it.
	Cause Cause
	// Err is the underlying error, if any. For panics it is a *PanicError.
	Err error
	// Stack is the goroutine stack captured when a panic was recovered; nil
	// for other causes or when the panic was recovered without one.
	Stack []byte
	// At is when the failure happened. Tree fills it with the decision time
	// when it is zero.
	At time.Time
}

// Error renders the failure as "<cause>: <err>", for example "panic: boom" or
// "attempt_timeout: attempt ran longer than 2s". The cause prefix is not
// repeated when the error text already starts with it.
func (f Failure) Error() string {
	prefix := f.Cause.String()
	if f.Err == nil {
		return prefix
	}
	msg := f.Err.Error()
	if strings.HasPrefix(msg, prefix+": ") {
		return msg
	}
	return prefix + ": " + msg
}

// Unwrap returns Err so errors.Is and errors.As see through a Failure.
func (f Failure) Unwrap() error { return f.Err }

// PermanentError is implemented by errors that must not be retried. Granary's
// actors.Permanent(err) wraps an error into one.
type PermanentError interface {
	error
	Permanent() bool
}

// IsPermanent reports whether the first PermanentError in err's chain (as
// found by errors.As) says the error is permanent. An outer wrapper thus
// overrides an inner one, which lets code mark a normally permanent error as
// worth retrying.
func IsPermanent(err error) bool {
	var pe PermanentError
	return errors.As(err, &pe) && pe.Permanent()
}

// Decider maps a failure to a directive. It must be a pure function: the
// tree calls it while deciding and applies budgets and restart types on top.
type Decider func(Failure) Directive

// DefaultDecider stops children whose error is permanent (IsPermanent) and
// children that failed because of cancellation or an overall deadline,
// because another attempt cannot succeed or would defy the user. Everything
// else — errors, panics, timeouts, lost members — is restarted.
func DefaultDecider(f Failure) Directive {
	if IsPermanent(f.Err) {
		return Stop
	}
	switch f.Cause {
	case CauseCancelled, CauseDeadline:
		return Stop
	default:
		return Restart
	}
}

// FailureFromReason converts a failure reason — the value protoactor-go
// reports for a failed child, or an error a handler returned or Recover
// produced — into a Failure:
//
//   - a Failure or *Failure is used as is (At defaults to now);
//   - a *PanicError anywhere in an error's chain gives CausePanic and keeps
//     its stack;
//   - a runtime.Error (nil dereference, index out of range, ...) can only
//     come from a panic, so it gives CausePanic, without a stack;
//   - any other error gives CauseError;
//   - any other value is what an actor panicked with (protoactor recovers
//     panics and passes the raw value), so it gives CausePanic.
//
// protoactor recovers panics after the stack has unwound, so a stack is only
// available when the actor caught the panic itself with Recover and
// escalated the *PanicError.
func FailureFromReason(reason any, now time.Time) Failure {
	var f Failure
	switch r := reason.(type) {
	case Failure:
		f = r
	case *Failure:
		f = *r
	case error:
		var pe *PanicError
		var re runtime.Error
		switch {
		case errors.As(r, &pe):
			f = Failure{Cause: CausePanic, Err: r, Stack: pe.Stack}
		case errors.As(r, &re):
			f = Failure{Cause: CausePanic, Err: &PanicError{Value: r}}
		default:
			f = Failure{Cause: CauseError, Err: r}
		}
	default:
		f = Failure{Cause: CausePanic, Err: &PanicError{Value: r}}
	}
	if f.At.IsZero() {
		f.At = now
	}
	return f
}
