package supervisor

import (
	"fmt"
	"time"
)

// Watchdog is the hung-attempt rule: an attempt expires when it has run for
// AttemptTimeout, or when HeartbeatTimeout has passed since its last
// heartbeat (or since it started, before the first heartbeat). A zero
// timeout disables that check. Like Tree it is pure: the caller supplies the
// instants and arms its own timer for the returned next check.
type Watchdog struct {
	// AttemptTimeout bounds an attempt's total running time.
	AttemptTimeout time.Duration
	// HeartbeatTimeout bounds the silence between heartbeats.
	HeartbeatTimeout time.Duration
}

// Validate rejects negative timeouts; errors wrap ErrInvalidWatchdog.
func (w Watchdog) Validate() error {
	if w.AttemptTimeout < 0 || w.HeartbeatTimeout < 0 {
		return fmt.Errorf("%w: timeouts must not be negative (attempt %s, heartbeat %s)",
			ErrInvalidWatchdog, w.AttemptTimeout, w.HeartbeatTimeout)
	}
	return nil
}

// Check reports whether an attempt that started at started and last sent a
// heartbeat at lastHeartbeat (zero if never) has expired at now. A deadline
// counts as reached when now is at or after it. When both have been reached
// the earlier deadline names the cause, the attempt timeout on a tie. When
// the attempt has not expired, next is the instant at which the earliest
// remaining deadline falls and Check should run again; it is zero when both
// checks are disabled, and always zero when expired is true. A heartbeat
// older than started is ignored.
func (w Watchdog) Check(started, lastHeartbeat, now time.Time) (cause Cause, expired bool, next time.Time) {
	var attemptAt, beatAt time.Time
	if w.AttemptTimeout > 0 {
		attemptAt = started.Add(w.AttemptTimeout)
	}
	if w.HeartbeatTimeout > 0 {
		base := started
		if lastHeartbeat.After(started) {
			base = lastHeartbeat
		}
		beatAt = base.Add(w.HeartbeatTimeout)
	}
	attemptDue := !attemptAt.IsZero() && !now.Before(attemptAt)
	beatDue := !beatAt.IsZero() && !now.Before(beatAt)
	switch {
	case attemptDue && (!beatDue || !beatAt.Before(attemptAt)):
		return CauseAttemptTimeout, true, time.Time{}
	case beatDue:
		return CauseHeartbeatTimeout, true, time.Time{}
	}
	switch {
	case attemptAt.IsZero():
		next = beatAt
	case beatAt.IsZero() || attemptAt.Before(beatAt):
		next = attemptAt
	default:
		next = beatAt
	}
	return CauseError, false, next
}

// Failure builds the Failure to report for an expiry Check returned, with an
// error that matches ErrAttemptTimeout or ErrHeartbeatTimeout and reads, for
// example, "attempt_timeout: attempt ran longer than 2s".
func (w Watchdog) Failure(cause Cause, at time.Time) Failure {
	limit := w.AttemptTimeout
	if cause == CauseHeartbeatTimeout {
		limit = w.HeartbeatTimeout
	}
	return Failure{Cause: cause, Err: &timeoutError{cause: cause, limit: limit}, At: at}
}

type timeoutError struct {
	cause Cause
	limit time.Duration
}

func (e *timeoutError) Error() string {
	if e.cause == CauseHeartbeatTimeout {
		return fmt.Sprintf("no heartbeat for %s", e.limit)
	}
	return fmt.Sprintf("attempt ran longer than %s", e.limit)
}

func (e *timeoutError) Is(target error) bool {
	if e.cause == CauseHeartbeatTimeout {
		return target == ErrHeartbeatTimeout
	}
	return target == ErrAttemptTimeout
}
