package supervisor

import (
	"context"
	"time"

	"github.com/granary-rt/granary/supervisor/backoff"
)

// Backoff is capped exponential backoff with optional jitter; see package
// backoff, which holds it apart from the actor runtime for light programs.
type Backoff = backoff.Backoff

// Jitter selects how Backoff.Delay randomises a delay.
type Jitter = backoff.Jitter

// The jitters; see package backoff.
const (
	JitterNone  = backoff.JitterNone
	JitterFull  = backoff.JitterFull
	JitterEqual = backoff.JitterEqual
)

// DefaultBackoff returns the backoff Granary uses when none is configured.
func DefaultBackoff() Backoff { return backoff.Default() }

// ParseJitter parses the names Jitter.String returns.
func ParseJitter(s string) (Jitter, error) { return backoff.ParseJitter(s) }

// Sleep waits d (a delay from Delay, say) or until ctx ends, and reports
// whether the whole delay passed.
func Sleep(ctx context.Context, d time.Duration) bool { return backoff.Sleep(ctx, d) }
