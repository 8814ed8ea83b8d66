package errs

import "errors"

// The sentinels. Functions wrap them with %w and a precise message; match
// them with errors.Is. The first nine, ErrUnauthenticated and
// ErrPermissionDenied have a wire code (see Table); the others are local
// meanings, some of which answer as one of those (ErrFenced and ErrClosed
// are ErrUnavailable to a client).
var (
	// ErrInvalidArgument: the request is malformed or names an unknown kind,
	// a payload that does not decode, or a policy outside the kind's limits.
	// Nothing was stored.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: no such task, job or record.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: the id is taken by a different request (a task with
	// another kind or payload, a grain request id used for another
	// request). The same id with the same request is not an error.
	ErrAlreadyExists = errors.New("already exists")
	// ErrFailedPrecondition: the operation does not apply in the target's
	// state, e.g. cancelling a completed task.
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrUnavailable: the node is stopping or fenced, or its store is
	// unreachable; nothing was done and the request may be retried.
	ErrUnavailable = errors.New("unavailable")
	// ErrHandler: a handler processed the message and returned an error (or
	// panicked). Not retried.
	ErrHandler = errors.New("handler error")
	// ErrDeadlineExceeded: the deadline passed while the request may have
	// been processed. Not retried.
	ErrDeadlineExceeded = errors.New("deadline exceeded")
	// ErrInternal: a bug or an unexpected failure on the node.
	ErrInternal = errors.New("internal error")
	// ErrResourceExhausted: the node is at a limit (requests in flight,
	// activations, a grain's queue) and did nothing; retry after a moment.
	ErrResourceExhausted = errors.New("resource exhausted")
	// ErrUnauthenticated: the node wants a bearer token and got none, or one
	// it does not know (HTTP 401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied: the token's role does not allow the call, or the
	// request came from a web page of another origin (HTTP 403).
	ErrPermissionDenied = errors.New("permission denied")

	// ErrConflict: a check-and-set write lost: the record changed since the
	// revision the writer read. The writer must read again and decide anew.
	// Packages declare their own (store.ErrConflict for tasks,
	// grains.ErrStateConflict for grain state) wrapping this one.
	ErrConflict = errors.New("conflict")
	// ErrFenced: this member must not act now (its lease expired by the
	// monotonic clock, it is fenced, or it left). A client sees it as
	// ErrUnavailable: another member can serve the request.
	ErrFenced = New("fenced", ErrUnavailable)
	// ErrClosed: the component was closed. A client sees it as
	// ErrUnavailable.
	ErrClosed = New("closed", ErrUnavailable)
	// ErrInvalidConfig: a Config that Validate (or New) refuses; the error
	// names the field and the value.
	ErrInvalidConfig = errors.New("invalid configuration")
)

// New returns a sentinel with its own message that errors.Is also matches
// to parent: a package's narrower meaning of a shared one, such as
// store.ErrNotFound ("task not found") of ErrNotFound.
func New(msg string, parent error) error {
	return &sentinel{msg: msg, parent: parent}
}

type sentinel struct {
	msg    string
	parent error
}

func (s *sentinel) Error() string { return s.msg }
func (s *sentinel) Unwrap() error { return s.parent }
