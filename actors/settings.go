package actors

import (
	"fmt"
	"math"
	"time"

	"github.com/granary-rt/granary/supervisor/backoff"
)

// Settings are the effective supervision settings of one task: its kind's
// defaults with the submit's overrides applied.
type Settings struct {
	// MaxAttempts counts every attempt, the first included.
	MaxAttempts int
	// Backoff is the delay between attempts.
	Backoff backoff.Backoff
	// AttemptTimeout fails an attempt that runs longer (0: none).
	AttemptTimeout time.Duration
	// HeartbeatTimeout fails an attempt that stops heartbeating for longer (0: none).
	HeartbeatTimeout time.Duration
	// ScheduleToClose bounds the whole task from submission, retries
	// included (0: none).
	ScheduleToClose time.Duration
}

// DefaultSettings are the settings of a kind that declares none.
func DefaultSettings() Settings {
	return Settings{
		// Five attempts heal the usual transient faults (a restarted
		// dependency, a lost member) within seconds while a poisoned task
		// fails fast instead of looping; Celery retries 3 times, Sidekiq 25.
		MaxAttempts: 5,
		// 100ms doubling to 10s with equal jitter: the first retry is quick,
		// later ones back off from a struggling dependency, and equal jitter
		// spreads a burst of failures without ever retrying immediately.
		Backoff: backoff.Backoff{
			Initial:    100 * time.Millisecond,
			Multiplier: 2,
			Max:        10 * time.Second,
			Jitter:     backoff.JitterEqual,
		},
		// A hung task is the classic failure of compute HA: without a bound
		// it holds its slot forever. Ten minutes catches it while leaving
		// room for real work; longer tasks should set their own time-out and
		// heartbeat.
		AttemptTimeout: 10 * time.Minute,
		// Only handlers that call Heartbeat can have a heartbeat time-out.
		HeartbeatTimeout: 0,
		// No overall deadline unless asked: retries are bounded by MaxAttempts.
		ScheduleToClose: 0,
	}
}

// Limits bound what a submit may ask for, so one client cannot make a task
// retry forever or hold a slot for days.
type Limits struct {
	MaxAttempts        int
	MinBackoff         time.Duration
	MaxBackoff         time.Duration
	MaxAttemptTimeout  time.Duration
	MaxScheduleToClose time.Duration
}

// DefaultLimits are the bounds a kind enforces unless it declares its own.
func DefaultLimits() Limits {
	return Limits{
		// 1000 attempts of capped backoff is days of retrying: anything
		// above is a typo or an infinite loop.
		MaxAttempts: 1000,
		// Below 1ms a retry loop spins against a failing dependency.
		MinBackoff: time.Millisecond,
		// A retry more than an hour away is a scheduler's job, not a backoff.
		MaxBackoff: time.Hour,
		// A day per attempt; longer work should be split or heartbeat.
		MaxAttemptTimeout: 24 * time.Hour,
		// A week: beyond it a result has nobody waiting for it.
		MaxScheduleToClose: 7 * 24 * time.Hour,
	}
}

// Overrides are the settings a submit asks for; nil fields keep the kind's
// defaults.
type Overrides struct {
	MaxAttempts       *int
	BackoffInitial    *time.Duration
	BackoffMultiplier *float64
	BackoffMax        *time.Duration
	Jitter            *backoff.Jitter
	AttemptTimeout    *time.Duration
	HeartbeatTimeout  *time.Duration
	ScheduleToClose   *time.Duration
}

// Apply returns base with the overrides applied and checked against
// limits. The error wraps ErrInvalidPolicy and names the offending field.
func (o Overrides) Apply(base Settings, l Limits) (Settings, error) {
	s := base
	if o.MaxAttempts != nil {
		s.MaxAttempts = *o.MaxAttempts
	}
	if o.BackoffInitial != nil {
		s.Backoff.Initial = *o.BackoffInitial
		if s.Backoff.Max < s.Backoff.Initial && o.BackoffMax == nil {
			s.Backoff.Max = s.Backoff.Initial
		}
	}
	if o.BackoffMultiplier != nil {
		s.Backoff.Multiplier = *o.BackoffMultiplier
	}
	if o.BackoffMax != nil {
		s.Backoff.Max = *o.BackoffMax
		if s.Backoff.Initial > s.Backoff.Max && o.BackoffInitial == nil {
			s.Backoff.Initial = s.Backoff.Max
		}
	}
	if o.Jitter != nil {
		s.Backoff.Jitter = *o.Jitter
	}
	if o.AttemptTimeout != nil {
		s.AttemptTimeout = *o.AttemptTimeout
	}
	if o.HeartbeatTimeout != nil {
		s.HeartbeatTimeout = *o.HeartbeatTimeout
	}
	if o.ScheduleToClose != nil {
		s.ScheduleToClose = *o.ScheduleToClose
	}
	if err := s.Check(l); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// Check reports whether s is usable and within l.
func (s Settings) Check(l Limits) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidPolicy, fmt.Sprintf(format, args...))
	}
	switch {
	case s.MaxAttempts < 1:
		return bad("max_attempts must be at least 1, got %d", s.MaxAttempts)
	case s.MaxAttempts > l.MaxAttempts:
		return bad("max_attempts must be at most %d, got %d", l.MaxAttempts, s.MaxAttempts)
	case s.Backoff.Initial < l.MinBackoff:
		return bad("backoff_initial must be at least %s, got %s", l.MinBackoff, s.Backoff.Initial)
	case !(s.Backoff.Multiplier >= 1) || math.IsInf(s.Backoff.Multiplier, 0):
		return bad("backoff_multiplier must be a number >= 1, got %v", s.Backoff.Multiplier)
	case s.Backoff.Max < s.Backoff.Initial:
		return bad("backoff_max (%s) must be at least backoff_initial (%s)", s.Backoff.Max, s.Backoff.Initial)
	case s.Backoff.Max > l.MaxBackoff:
		return bad("backoff_max must be at most %s, got %s", l.MaxBackoff, s.Backoff.Max)
	case s.AttemptTimeout < 0:
		return bad("attempt_timeout must not be negative, got %s", s.AttemptTimeout)
	case s.AttemptTimeout > l.MaxAttemptTimeout:
		return bad("attempt_timeout must be at most %s, got %s", l.MaxAttemptTimeout, s.AttemptTimeout)
	case s.HeartbeatTimeout < 0:
		return bad("heartbeat_timeout must not be negative, got %s", s.HeartbeatTimeout)
	case s.HeartbeatTimeout > l.MaxAttemptTimeout:
		return bad("heartbeat_timeout must be at most %s, got %s", l.MaxAttemptTimeout, s.HeartbeatTimeout)
	case s.ScheduleToClose < 0:
		return bad("deadline must not be negative, got %s", s.ScheduleToClose)
	case s.ScheduleToClose > l.MaxScheduleToClose:
		return bad("deadline must be at most %s, got %s", l.MaxScheduleToClose, s.ScheduleToClose)
	}
	if err := s.Backoff.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	return nil
}
