package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/messages"
)

// The API's errors are Granary's one vocabulary (cluster/errs), under the
// names callers of this package have always used; errors.Is matches either
// name.
var (
	// ErrInvalidArgument: the request is malformed or names an unknown kind,
	// a payload that does not decode, or a policy outside the kind's limits.
	// Nothing was stored.
	ErrInvalidArgument = errs.ErrInvalidArgument
	// ErrNotFound: no task has that id.
	ErrNotFound = errs.ErrNotFound
	// ErrAlreadyExists: a task with that id exists with a different kind or
	// payload (same id and same request is not an error: it returns the task).
	ErrAlreadyExists = errs.ErrAlreadyExists
	// ErrFailedPrecondition: the operation does not apply in the task's
	// state, e.g. cancelling a completed task.
	ErrFailedPrecondition = errs.ErrFailedPrecondition
	// ErrUnavailable: the node is stopping or its store is unreachable; the
	// request may be retried.
	ErrUnavailable = errs.ErrUnavailable
	// ErrHandler: a grain processed the message and returned an error (or
	// panicked). Not retried.
	ErrHandler = errs.ErrHandler
	// ErrDeadlineExceeded: the deadline passed while the request may have
	// been processed (a grain that did not answer in time). Not retried.
	ErrDeadlineExceeded = errs.ErrDeadlineExceeded
	// ErrInternal: a bug or an unexpected failure on the node.
	ErrInternal = errs.ErrInternal
	// ErrResourceExhausted: the node is at its limit of requests in flight
	// and did nothing (HTTP 429, with Retry-After). Retried after the
	// delay the node asks for.
	ErrResourceExhausted = errs.ErrResourceExhausted
	// ErrUnauthenticated: no bearer token, or one the node does not know
	// (HTTP 401).
	ErrUnauthenticated = errs.ErrUnauthenticated
	// ErrPermissionDenied: the token's role does not allow the call, or a
	// web page of another origin made it (HTTP 403).
	ErrPermissionDenied = errs.ErrPermissionDenied
)

// ToCode classifies err for an answer to another member: the code of the
// sentinel it wraps (ERROR_CODE_INTERNAL if none, or if the sentinel has
// no code between members), and its message.
func ToCode(err error) (messages.ErrorCode, string) {
	w := errs.Of(err)
	if w.Proto == 0 {
		return messages.ErrorCode_ERROR_CODE_INTERNAL, err.Error()
	}
	return messages.ErrorCode(w.Proto), err.Error()
}

// FromCode turns another member's error answer back into an error
// wrapping its sentinel; nil for ERROR_CODE_UNSPECIFIED. A code this
// member does not know (a newer peer's) is ErrInternal.
func FromCode(code messages.ErrorCode, msg string) error {
	if code == messages.ErrorCode_ERROR_CODE_UNSPECIFIED {
		return nil
	}
	if w, ok := errs.ByProto(int32(code)); ok {
		return &WireError{Sentinel: w.Err, Message: msg}
	}
	return &WireError{Sentinel: ErrInternal, Message: fmt.Sprintf("%s (error code %d)", msg, code)}
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail carries a machine-readable code and a message for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ToWire classifies err by the sentinel it wraps (ErrInternal if none).
func ToWire(err error) (status int, body ErrorBody) {
	w := errs.Of(err)
	return w.HTTP, ErrorBody{Error: ErrorDetail{Code: w.Code, Message: err.Error()}}
}

// FromWire turns an error answer back into an error wrapping its sentinel,
// so callers can use errors.Is across the wire. An answer whose code this
// side does not know (a proxy's, a newer node's) is classified by its
// status: 5xx is ErrUnavailable (a proxy in front of a stopping node),
// a status of the table its sentinel (401 ErrUnauthenticated, 403
// ErrPermissionDenied, ...), anything else ErrInternal.
func FromWire(status int, body ErrorBody) error {
	if w, ok := errs.ByCode(body.Error.Code); ok {
		if w.Proto == 0 {
			// 401 and 403 come from the auth layer, whose messages say what
			// to do but not what happened.
			return &WireError{Sentinel: w.Err, Message: w.Err.Error() + ": " + body.Error.Message}
		}
		return &WireError{Sentinel: w.Err, Message: body.Error.Message}
	}
	msg := body.Error.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	sentinel := ErrInternal
	if w, ok := errs.ByStatus(status); ok && status < 500 {
		sentinel = w.Err
	} else if status >= 500 {
		sentinel = ErrUnavailable
	}
	return &WireError{Sentinel: sentinel, Message: fmt.Sprintf("HTTP %d: %s", status, msg)}
}

// WireError is an error that came back from a node.
type WireError struct {
	Sentinel error
	Message  string
	// RetryAfter is how long the node asked the client to wait before
	// trying again (Retry-After), with ErrResourceExhausted; 0 if it did
	// not say.
	RetryAfter time.Duration
}

func (e *WireError) Error() string { return e.Message }
func (e *WireError) Unwrap() error { return e.Sentinel }
