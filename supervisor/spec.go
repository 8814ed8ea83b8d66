package supervisor

import (
	"fmt"
	"time"
)

// Budget is Erlang's restart intensity: at most MaxRestarts restarts within
// any Period; the failure that would need one more escalates instead.
//
// Restarts of all children of a tree count against the same budget, and a
// one-for-all or rest-for-one restart counts once, as in Erlang. A restart
// at time t stays inside the window at time now while now-t < Period.
type Budget struct {
	// MaxRestarts is the number of restarts allowed inside the window.
	// 0 forbids restarts altogether; a negative value means unlimited.
	MaxRestarts int
	// Period is the sliding window's length. 0 means the supervisor's whole
	// life, which is how a task's maximum number of attempts is expressed.
	Period time.Duration
}

// DefaultBudget returns the budget Granary uses when none is configured.
func DefaultBudget() Budget {
	return Budget{
		// With DefaultBackoff the first five restarts happen within about
		// three seconds, so a child that crashes on every start escalates
		// quickly instead of looping forever at Max backoff...
		MaxRestarts: 5,
		// ...while a child that fails less often than every twelve seconds
		// on average never exhausts the budget.
		Period: time.Minute,
	}
}

// Unlimited reports whether the budget never runs out.
func (b Budget) Unlimited() bool { return b.MaxRestarts < 0 }

// Validate reports whether b is usable. Errors wrap ErrInvalidBudget.
func (b Budget) Validate() error {
	if b.Period < 0 {
		return fmt.Errorf("%w: Period %s is negative", ErrInvalidBudget, b.Period)
	}
	return nil
}

func (b Budget) String() string {
	limit := "unlimited restarts"
	if !b.Unlimited() {
		limit = fmt.Sprintf("max %d restarts", b.MaxRestarts)
	}
	if b.Period == 0 {
		return limit + " over the supervisor's lifetime"
	}
	return fmt.Sprintf("%s within %s", limit, b.Period)
}

// Spec configures a supervision tree.
type Spec struct {
	// Strategy selects which children a restart affects.
	Strategy Strategy
	// Budget limits how often the tree restarts before escalating. The zero
	// Budget allows no restarts at all.
	Budget Budget
	// Backoff spaces out restarts. The zero Backoff restarts immediately.
	Backoff Backoff
	// Decider maps failures to directives; nil means DefaultDecider.
	Decider Decider
}

// DefaultSpec returns a one-for-one spec with the default budget, backoff
// and decider.
func DefaultSpec() Spec {
	return Spec{
		// One-for-one is the only strategy that is safe without knowing
		// how children depend on each other.
		Strategy: OneForOne,
		Budget:   DefaultBudget(),
		Backoff:  DefaultBackoff(),
		// nil selects DefaultDecider, which already encodes the
		// permanent/cancelled/deadline rules every caller wants.
		Decider: nil,
	}
}

// Validate reports whether s is usable, wrapping the sentinel of the first
// problem found.
func (s Spec) Validate() error {
	if !s.Strategy.valid() {
		return fmt.Errorf("%w: %d", ErrUnknownStrategy, int(s.Strategy))
	}
	if err := s.Budget.Validate(); err != nil {
		return err
	}
	return s.Backoff.Validate()
}

func (s Spec) decide(f Failure) Directive {
	if s.Decider == nil {
		return DefaultDecider(f)
	}
	return s.Decider(f)
}
