package supervisor

import (
	"errors"
	"testing"
	"time"
)

func TestWatchdogCheck(t *testing.T) {
	s := time.Second
	var never time.Time
	tests := []struct {
		name      string
		w         Watchdog
		heartbeat time.Time // zero: no heartbeat yet
		now       time.Duration
		cause     Cause
		expired   bool
		next      time.Time
	}{
		{"disabled", Watchdog{}, never, time.Hour, CauseError, false, never},
		{"attempt running", Watchdog{AttemptTimeout: 10 * s}, never, 3 * s, CauseError, false, at(10 * s)},
		{"attempt at deadline", Watchdog{AttemptTimeout: 10 * s}, never, 10 * s, CauseAttemptTimeout, true, never},
		{"attempt past deadline", Watchdog{AttemptTimeout: 10 * s}, at(9 * s), 11 * s, CauseAttemptTimeout, true, never},
		{"no heartbeat yet counts from start", Watchdog{HeartbeatTimeout: 2 * s}, never, s, CauseError, false, at(2 * s)},
		{"no heartbeat ever", Watchdog{HeartbeatTimeout: 2 * s}, never, 2 * s, CauseHeartbeatTimeout, true, never},
		{"recent heartbeat", Watchdog{HeartbeatTimeout: 2 * s}, at(5 * s), 6 * s, CauseError, false, at(7 * s)},
		{"stale heartbeat", Watchdog{HeartbeatTimeout: 2 * s}, at(5 * s), 8 * s, CauseHeartbeatTimeout, true, never},
		{"heartbeat before start ignored", Watchdog{HeartbeatTimeout: 2 * s}, at(-time.Hour), s, CauseError, false, at(2 * s)},
		{"both: heartbeat due first", Watchdog{AttemptTimeout: 10 * s, HeartbeatTimeout: 2 * s}, at(s), 4 * s, CauseHeartbeatTimeout, true, never},
		{"both: next is heartbeat", Watchdog{AttemptTimeout: 10 * s, HeartbeatTimeout: 2 * s}, at(s), 2 * s, CauseError, false, at(3 * s)},
		{"both: next is attempt", Watchdog{AttemptTimeout: 10 * s, HeartbeatTimeout: 2 * s}, at(9 * s), 9500 * time.Millisecond, CauseError, false, at(10 * s)},
		{"both: attempt due first", Watchdog{AttemptTimeout: 10 * s, HeartbeatTimeout: 2 * s}, at(9 * s), 12 * s, CauseAttemptTimeout, true, never},
		{"both due at once: attempt wins", Watchdog{AttemptTimeout: 10 * s, HeartbeatTimeout: 2 * s}, at(8 * s), 10 * s, CauseAttemptTimeout, true, never},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cause, expired, next := tt.w.Check(t0, tt.heartbeat, at(tt.now))
			if cause != tt.cause || expired != tt.expired || !next.Equal(tt.next) {
				t.Fatalf("Check = (%v, %v, %v), want (%v, %v, %v)", cause, expired, next, tt.cause, tt.expired, tt.next)
			}
		})
	}
}

func TestWatchdogFailure(t *testing.T) {
	w := Watchdog{AttemptTimeout: 2 * time.Second, HeartbeatTimeout: 500 * time.Millisecond}
	tests := []struct {
		cause Cause
		is    error
		text  string
	}{
		{CauseAttemptTimeout, ErrAttemptTimeout, "attempt_timeout: attempt ran longer than 2s"},
		{CauseHeartbeatTimeout, ErrHeartbeatTimeout, "heartbeat_timeout: no heartbeat for 500ms"},
	}
	for _, tt := range tests {
		f := w.Failure(tt.cause, t0)
		if f.Error() != tt.text || !errors.Is(f, tt.is) || f.Cause != tt.cause || !f.At.Equal(t0) {
			t.Errorf("Failure(%v) = %q (is %v: %v)", tt.cause, f.Error(), tt.is, errors.Is(f, tt.is))
		}
	}
	if err := (Watchdog{AttemptTimeout: -1}).Validate(); !errors.Is(err, ErrInvalidWatchdog) {
		t.Errorf("Validate negative = %v", err)
	}
	if err := w.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
}
