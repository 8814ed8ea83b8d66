package errs

import (
	"errors"
	"net/http"
)

// Wire is how one sentinel crosses the wire.
type Wire struct {
	// Err is the sentinel.
	Err error
	// Code is the machine-readable code of an HTTP error answer
	// ({"error": {"code", "message"}}).
	Code string
	// HTTP is the answer's status.
	HTTP int
	// Proto is the messages.ErrorCode between members (0: none).
	Proto int32
	// Grain is the messages.GrainErrorCode of a grain call's answer (0:
	// none).
	Grain int32
}

// Table maps every sentinel that crosses the wire to its codes. It is the
// one translation between errors and the wire: cluster/api, the grain
// router and the client all read it.
var Table = []Wire{
	{ErrInvalidArgument, "invalid_argument", http.StatusBadRequest, 1, 4},
	{ErrNotFound, "not_found", http.StatusNotFound, 2, 0},
	{ErrAlreadyExists, "already_exists", http.StatusConflict, 3, 5},
	{ErrFailedPrecondition, "failed_precondition", http.StatusConflict, 4, 0},
	{ErrUnavailable, "unavailable", http.StatusServiceUnavailable, 5, 3},
	{ErrHandler, "handler_error", http.StatusUnprocessableEntity, 6, 1},
	{ErrDeadlineExceeded, "deadline_exceeded", http.StatusGatewayTimeout, 7, 0},
	{ErrInternal, "internal", http.StatusInternalServerError, 8, 0},
	{ErrResourceExhausted, "resource_exhausted", http.StatusTooManyRequests, 9, 6},
	{ErrUnauthenticated, "unauthenticated", http.StatusUnauthorized, 0, 0},
	{ErrPermissionDenied, "permission_denied", http.StatusForbidden, 0, 0},
}

// internal is Table's ErrInternal row, the answer for an error that wraps
// no sentinel.
var internal = Table[7]

// Of returns the row of the first sentinel (in Table's order) that err
// wraps, or ErrInternal's row if it wraps none.
func Of(err error) Wire {
	for _, w := range Table {
		if errors.Is(err, w.Err) {
			return w
		}
	}
	return internal
}

// ByCode returns the row with that HTTP error code.
func ByCode(code string) (Wire, bool) {
	return find(func(w Wire) bool { return w.Code == code })
}

// ByStatus returns the first row with that HTTP status, for an answer
// whose code this side does not know (a newer node's, a proxy's).
func ByStatus(status int) (Wire, bool) {
	return find(func(w Wire) bool { return w.HTTP == status })
}

// ByProto returns the row with that messages.ErrorCode.
func ByProto(code int32) (Wire, bool) {
	return find(func(w Wire) bool { return code != 0 && w.Proto == code })
}

// ByGrain returns the row with that messages.GrainErrorCode.
func ByGrain(code int32) (Wire, bool) {
	return find(func(w Wire) bool { return code != 0 && w.Grain == code })
}

func find(match func(Wire) bool) (Wire, bool) {
	for _, w := range Table {
		if match(w) {
			return w, true
		}
	}
	return Wire{}, false
}
