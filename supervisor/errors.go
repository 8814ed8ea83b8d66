package supervisor

import (
	"errors"

	"github.com/granary-rt/granary/supervisor/backoff"
)

// Sentinel errors. Functions wrap them with %w and a precise message;
// match them with errors.Is.
var (
	// ErrInvalidBackoff is returned by Backoff.Validate for a backoff whose
	// fields cannot describe an exponential sequence.
	ErrInvalidBackoff = backoff.ErrInvalidBackoff

	// ErrInvalidBudget is returned by Budget.Validate for a negative period.
	ErrInvalidBudget = errors.New("supervisor: invalid restart budget")

	// ErrInvalidChild is returned when a Child has an empty ID or an unknown
	// restart type.
	ErrInvalidChild = errors.New("supervisor: invalid child")

	// ErrUnknownChild is returned when an operation names a child the tree
	// does not hold.
	ErrUnknownChild = errors.New("supervisor: unknown child")

	// ErrDuplicateChild is returned when a child ID is added twice.
	ErrDuplicateChild = errors.New("supervisor: duplicate child")

	// ErrUnknownStrategy is returned for a Strategy outside the defined
	// constants or a name ParseStrategy does not know.
	ErrUnknownStrategy = errors.New("supervisor: unknown strategy")

	// ErrUnknownRestartType is returned by ParseRestartType for an unknown name.
	ErrUnknownRestartType = errors.New("supervisor: unknown restart type")

	// ErrUnknownCause is returned by ParseCause for an unknown name.
	ErrUnknownCause = errors.New("supervisor: unknown cause")

	// ErrUnknownJitter is returned for a Jitter outside the defined constants
	// or a name ParseJitter does not know.
	ErrUnknownJitter = backoff.ErrUnknownJitter

	// ErrInvalidWatchdog is returned by Watchdog.Validate for negative
	// timeouts.
	ErrInvalidWatchdog = errors.New("supervisor: invalid watchdog")

	// ErrInvalidOption is returned by NewStrategy when an Option is given an
	// unusable value, such as a nil clock.
	ErrInvalidOption = errors.New("supervisor: invalid option")

	// ErrAttemptTimeout is matched (errors.Is) by the error a Watchdog reports
	// when an attempt outlives Watchdog.AttemptTimeout.
	ErrAttemptTimeout = errors.New("supervisor: attempt timeout")

	// ErrHeartbeatTimeout is matched (errors.Is) by the error a Watchdog
	// reports when no heartbeat arrived within Watchdog.HeartbeatTimeout.
	ErrHeartbeatTimeout = errors.New("supervisor: heartbeat timeout")

	// ErrUnknownAutoShutdown is returned for an AutoShutdown outside the
	// defined constants or a name ParseAutoShutdown does not know.
	ErrUnknownAutoShutdown = errors.New("supervisor: unknown auto_shutdown")

	// ErrInvalidJobState is returned for a job declaration or persisted job
	// state that a JobMachine cannot take (an unknown phase or status name,
	// a negative shutdown).
	ErrInvalidJobState = errors.New("supervisor: invalid job state")
)
