package actors_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
)

// A delay or period that would put a due time past what Unix nanoseconds
// hold (or anywhere near it) is refused, never wrapped around to the past.
func TestValidateReminderBoundsDelayAndPeriod(t *testing.T) {
	for _, tc := range []struct {
		name          string
		after, period time.Duration
		ok            bool
	}{
		{"ten years", actors.MaxReminderDelay, 0, true},
		{"a year's period", time.Second, actors.MaxReminderPeriod, true},
		{"9e12 ms", actors.Millis(9e12), 0, false},
		{"9e12 ms hourly", actors.Millis(9e12), time.Hour, false},
		{"past int64", actors.Millis(math.MaxInt64), 0, false},
		{"over ten years", actors.MaxReminderDelay + time.Nanosecond, 0, false},
		{"period over a year", time.Second, actors.MaxReminderPeriod + time.Nanosecond, false},
		{"negative period", time.Second, actors.Millis(-1e18), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := actors.ValidateReminder("r", tc.after, tc.period, nil)
			if tc.ok != (err == nil) {
				t.Fatalf("ValidateReminder(%v, %v) = %v, want ok=%v", tc.after, tc.period, err, tc.ok)
			}
			if err != nil && !errors.Is(err, actors.ErrInvalidReminder) {
				t.Fatalf("error %v does not wrap ErrInvalidReminder", err)
			}
		})
	}
}

func TestMillisSaturates(t *testing.T) {
	for ms, want := range map[int64]time.Duration{
		1500:              1500 * time.Millisecond,
		math.MaxInt64:     math.MaxInt64,
		math.MinInt64:     math.MinInt64,
		-1500:             -1500 * time.Millisecond,
		9_300_000_000_000: math.MaxInt64, // 9.3e12 ms wraps when multiplied
	} {
		if got := actors.Millis(ms); got != want {
			t.Errorf("Millis(%d) = %v, want %v", ms, got, want)
		}
	}
}
