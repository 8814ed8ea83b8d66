// Package backoff is capped exponential backoff with AWS-style jitter: the
// delays between a supervisor's restarts, a client's retries and a grain
// router's tries. It imports the standard library only, so light programs
// (the Go client) use it without the actor runtime; package supervisor
// re-exports it as supervisor.Backoff.
//
//	b := backoff.Default()
//	for try := 1; ; try++ {
//		if err := call(ctx); err == nil {
//			break
//		}
//		if !backoff.Sleep(ctx, b.Delay(try, rand.Float64())) {
//			return ctx.Err()
//		}
//	}
package backoff

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Sentinel errors; match them with errors.Is. Their text names the
// supervisor, which re-exports them.
var (
	// ErrInvalidBackoff is returned by Backoff.Validate for a backoff whose
	// fields cannot describe an exponential sequence.
	ErrInvalidBackoff = errors.New("supervisor: invalid backoff")
	// ErrUnknownJitter is returned for a Jitter outside the defined constants
	// or a name ParseJitter does not know.
	ErrUnknownJitter = errors.New("supervisor: unknown jitter")
)

// Jitter selects how Backoff.Delay randomises a delay, with the meanings from
// the AWS Architecture Blog post "Exponential Backoff and Jitter".
type Jitter int

const (
	// JitterNone uses the capped exponential delay as is.
	JitterNone Jitter = iota
	// JitterFull picks uniformly in [0, delay].
	JitterFull
	// JitterEqual keeps half the delay and randomises the other half.
	JitterEqual
)

var jitterNames = []string{"none", "full", "equal"}

func (j Jitter) String() string {
	if j.valid() {
		return jitterNames[j]
	}
	return fmt.Sprintf("Jitter(%d)", int(j))
}

func (j Jitter) valid() bool { return j >= JitterNone && j <= JitterEqual }

// ParseJitter parses the names String returns, case-insensitively and with
// '-' in place of '_', as the supervisor's other enums.
func ParseJitter(s string) (Jitter, error) {
	norm := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	for i, n := range jitterNames {
		if n == norm {
			return Jitter(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q (want one of %s)", ErrUnknownJitter, s, strings.Join(jitterNames, ", "))
}

// MarshalText implements encoding.TextMarshaler.
func (j Jitter) MarshalText() ([]byte, error) {
	if !j.valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownJitter, int(j))
	}
	return []byte(j.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (j *Jitter) UnmarshalText(b []byte) error {
	v, err := ParseJitter(string(b))
	if err == nil {
		*j = v
	}
	return err
}

// Backoff is capped exponential backoff with optional jitter.
//
// The ceiling for restart n (n >= 1) is
//
//	Ceiling(n) = min(Max, Initial * Multiplier^(n-1))
//
// and Delay applies Jitter to it. Unlike protoactor-go's
// "exponential" backoff strategy, whose delay grows linearly with the failure
// count, this one really doubles (for Multiplier 2).
//
// The zero Backoff means "no backoff": Delay always returns 0.
type Backoff struct {
	// Initial is the ceiling of the first restart's delay.
	Initial time.Duration
	// Multiplier is the growth factor between consecutive restarts.
	Multiplier float64
	// Max caps the ceiling however many restarts came before.
	Max time.Duration
	// Jitter randomises the ceiling; see Delay for the exact ranges.
	Jitter Jitter
}

// Default returns the backoff Granary uses when none is configured.
func Default() Backoff {
	return Backoff{
		// Long enough that a crash loop cannot burn a core or hammer a
		// dependency, short enough that a one-off blip costs nothing a user
		// would notice.
		Initial: 100 * time.Millisecond,
		// Doubling is the conventional choice: it reaches Max in nine steps
		// while the first few retries still come quickly.
		Multiplier: 2,
		// A task stuck behind a long outage is still retried every half
		// minute, so it recovers soon after the outage ends.
		Max: 30 * time.Second,
		// Full jitter spreads out the retries of many tasks that failed
		// together (a shared dependency went down) and, per the AWS
		// analysis, does the least total work of the simple schemes.
		Jitter: JitterFull,
	}
}

// IsZero reports whether b is the zero Backoff, which means no delay at all.
func (b Backoff) IsZero() bool { return b == Backoff{} }

// Validate reports whether b is usable. The zero Backoff is valid (no
// backoff); otherwise Initial must be positive, Multiplier finite and >= 1,
// Max >= Initial and Jitter one of the defined constants. Errors wrap
// ErrInvalidBackoff.
func (b Backoff) Validate() error {
	switch {
	case b.IsZero():
		return nil
	case b.Initial < 0:
		return fmt.Errorf("%w: Initial %s is negative", ErrInvalidBackoff, b.Initial)
	case b.Initial == 0:
		return fmt.Errorf("%w: Initial is 0 but other fields are set (use the zero Backoff for no backoff)", ErrInvalidBackoff)
	case math.IsNaN(b.Multiplier) || math.IsInf(b.Multiplier, 0) || b.Multiplier < 1:
		return fmt.Errorf("%w: Multiplier %v must be finite and >= 1", ErrInvalidBackoff, b.Multiplier)
	case b.Max < b.Initial:
		return fmt.Errorf("%w: Max %s is below Initial %s", ErrInvalidBackoff, b.Max, b.Initial)
	case !b.Jitter.valid():
		return fmt.Errorf("%w: %w: %d", ErrInvalidBackoff, ErrUnknownJitter, int(b.Jitter))
	}
	return nil
}

// Ceiling returns the un-jittered delay for restart n:
// min(Max, Initial*Multiplier^(n-1)). n < 1 counts as 1. For a valid,
// non-zero Backoff, Initial <= Ceiling(n) <= Max and Ceiling never decreases
// as n grows. The computation is done in floating point and saturates at
// Max, so it cannot overflow whatever n and Multiplier are.
func (b Backoff) Ceiling(n int) time.Duration {
	if b.Initial <= 0 {
		return 0
	}
	limit := max(b.Max, b.Initial)
	if n <= 1 || !(b.Multiplier > 1) {
		return b.Initial
	}
	f := float64(b.Initial) * math.Pow(b.Multiplier, float64(n-1))
	if !(f < float64(limit)) { // also catches +Inf and NaN
		return limit
	}
	return min(time.Duration(f), limit)
}

// Delay returns how long to wait before restart n (n >= 1; smaller n counts
// as 1). rnd is a random number in [0, 1) supplied by the caller, which keeps
// Delay a pure function; values outside that range are clamped (NaN and
// negatives act as 0, values >= 1 as the top of the range).
//
// With c = Ceiling(n), the exact guarantees for a valid Backoff are:
//
//	zero Backoff:  Delay == 0
//	JitterNone:    Delay == c, so Initial <= Delay <= Max
//	JitterEqual:   c - c/2 <= Delay <= c (integer halving), so Delay >= Initial/2
//	JitterFull:    0 <= Delay <= c
//
// Delay never exceeds Max, never goes negative and grows monotonically with
// rnd. It does not panic on an invalid Backoff either, but the sequence is
// then unspecified beyond staying in [0, max(Initial, Max)].
func (b Backoff) Delay(n int, rnd float64) time.Duration {
	c := b.Ceiling(n)
	switch b.Jitter {
	case JitterFull:
		return scale(c, rnd)
	case JitterEqual:
		half := c / 2
		return c - half + scale(half, rnd)
	default:
		return c
	}
}

// scale returns d*rnd clamped to [0, d].
func scale(d time.Duration, rnd float64) time.Duration {
	if !(rnd > 0) {
		return 0
	}
	if rnd >= 1 {
		return d
	}
	return min(time.Duration(rnd*float64(d)), d)
}

// Sleep waits d (a delay from Delay, say) or until ctx ends, and reports
// whether the whole delay passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
