package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/granary-rt/granary/messages"
)

var (
	// ErrInvalidArgument: the request is malformed or names an unknown kind,
	// a payload that does not decode, or a policy outside the kind's limits.
	// Nothing was stored.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: no task has that id.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a task with that id exists with a different kind or
	// payload (same id and same request is not an error: it returns the task).
	ErrAlreadyExists = errors.New("already exists")
	// ErrFailedPrecondition: the operation does not apply in the task's
	// state, e.g. cancelling a completed task.
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrUnavailable: the node is stopping or its store is unreachable; the
	// request may be retried.
	ErrUnavailable = errors.New("unavailable")
	// ErrHandler: a grain processed the message and returned an error (or
	// panicked). Not retried.
	ErrHandler = errors.New("handler error")
	// ErrDeadlineExceeded: the deadline passed while the request may have
	// been processed (a grain that did not answer in time). Not retried.
	ErrDeadlineExceeded = errors.New("deadline exceeded")
	// ErrInternal: a bug or an unexpected failure on the node.
	ErrInternal = errors.New("internal error")
	// ErrResourceExhausted: the node is at its limit of requests in flight
	// and did nothing (HTTP 429, with Retry-After). Retried after the
	// delay the node asks for.
	ErrResourceExhausted = errors.New("resource exhausted")
)

// codes maps each sentinel to its wire code and HTTP status, and to its
// code between members (protobuf).
var codes = []struct {
	err    error
	code   string
	status int
	proto  messages.ErrorCode
}{
	{ErrInvalidArgument, "invalid_argument", http.StatusBadRequest, messages.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
	{ErrNotFound, "not_found", http.StatusNotFound, messages.ErrorCode_ERROR_CODE_NOT_FOUND},
	{ErrAlreadyExists, "already_exists", http.StatusConflict, messages.ErrorCode_ERROR_CODE_ALREADY_EXISTS},
	{ErrFailedPrecondition, "failed_precondition", http.StatusConflict, messages.ErrorCode_ERROR_CODE_FAILED_PRECONDITION},
	{ErrUnavailable, "unavailable", http.StatusServiceUnavailable, messages.ErrorCode_ERROR_CODE_UNAVAILABLE},
	{ErrHandler, "handler_error", http.StatusUnprocessableEntity, messages.ErrorCode_ERROR_CODE_HANDLER},
	{ErrDeadlineExceeded, "deadline_exceeded", http.StatusGatewayTimeout, messages.ErrorCode_ERROR_CODE_DEADLINE_EXCEEDED},
	{ErrInternal, "internal", http.StatusInternalServerError, messages.ErrorCode_ERROR_CODE_INTERNAL},
	{ErrResourceExhausted, "resource_exhausted", http.StatusTooManyRequests, messages.ErrorCode_ERROR_CODE_RESOURCE_EXHAUSTED},
}

// ToCode classifies err for an answer to another member: the code of the
// sentinel it wraps (ERROR_CODE_INTERNAL if none), and its message.
func ToCode(err error) (messages.ErrorCode, string) {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.proto, err.Error()
		}
	}
	return messages.ErrorCode_ERROR_CODE_INTERNAL, err.Error()
}

// FromCode turns another member's error answer back into an error
// wrapping its sentinel; nil for ERROR_CODE_UNSPECIFIED. A code this
// member does not know (a newer peer's) is ErrInternal.
func FromCode(code messages.ErrorCode, msg string) error {
	if code == messages.ErrorCode_ERROR_CODE_UNSPECIFIED {
		return nil
	}
	for _, c := range codes {
		if c.proto == code {
			return &WireError{Sentinel: c.err, Message: msg}
		}
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
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.status, ErrorBody{Error: ErrorDetail{Code: c.code, Message: err.Error()}}
		}
	}
	return http.StatusInternalServerError, ErrorBody{Error: ErrorDetail{Code: "internal", Message: err.Error()}}
}

// FromWire turns an error answer back into an error wrapping its sentinel,
// so callers can use errors.Is across the wire.
func FromWire(status int, body ErrorBody) error {
	for _, c := range codes {
		if c.code == body.Error.Code {
			return &WireError{Sentinel: c.err, Message: body.Error.Message}
		}
	}
	msg := body.Error.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	if status >= 500 {
		return &WireError{Sentinel: ErrUnavailable, Message: fmt.Sprintf("HTTP %d: %s", status, msg)}
	}
	return &WireError{Sentinel: ErrInternal, Message: fmt.Sprintf("HTTP %d: %s", status, msg)}
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
