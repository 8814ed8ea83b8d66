package membership

import (
	"fmt"
	"time"
)

// leaseState is what the question "may this node act now?" needs. It is
// immutable: publishLocked replaces it as a whole whenever one of its
// inputs changes, so readers take it with one atomic load and no lock.
//
// lastRenew keeps the monotonic reading of the clock that produced it
// (time.Now does; nothing here strips it), so its age is measured by the
// monotonic clock and a wall-clock step can neither extend nor end a lease.
type leaseState struct {
	lastRenew time.Time // send time of the last renewal Consul acknowledged
	blocked   string    // why the node may not act whatever the clock says; "" if nothing blocks it
}

// Reasons a node is blocked besides an expired lease, as CheckLease gives
// them; the others come from fence.go.
const (
	reasonFenced = "fenced"
	reasonLeft   = "left the cluster"
)

// blockReason says what stops the node from acting regardless of the
// lease's age: having left, the fence flag, a lapse not yet fenced on, or
// no session to hold locks with.
func blockReason(fenced, left, lapsed bool, session string) string {
	switch {
	case left:
		return reasonLeft
	case fenced:
		return reasonFenced
	case lapsed:
		return reasonLeaseLapsed
	case session == "":
		return reasonNoSession
	}
	return ""
}

// leaseValid is the rule behind every "may I act" answer: nothing blocks
// the node and its lease has not expired at now. The flag in blocked alone
// would not do: it changes on the fence watchdog's tick, and after a pause
// longer than the lease the code that runs first (an HTTP handler, a grain
// activation) runs before that tick, while Consul has already released the
// node's claims to others. The lease's age at now has no such lag. A nil
// state (nothing published yet) is not valid.
func leaseValid(s *leaseState, now time.Time, fenceAfter time.Duration) bool {
	return s != nil && s.blocked == "" && !leaseExpired(s.lastRenew, now, fenceAfter)
}

// checkLease is leaseValid with the reason, wrapping ErrFenced.
func checkLease(s *leaseState, now time.Time, fenceAfter time.Duration) error {
	switch {
	case s == nil:
		return fmt.Errorf("%w: not joined yet", ErrFenced)
	case s.blocked != "":
		return fmt.Errorf("%w: %s", ErrFenced, s.blocked)
	case s.lastRenew.IsZero():
		return fmt.Errorf("%w: lease never renewed", ErrFenced)
	case leaseExpired(s.lastRenew, now, fenceAfter):
		return fmt.Errorf("%w: %s: last renewal sent %v ago, fence after %v", ErrFenced, reasonLeaseExpired,
			now.Sub(s.lastRenew).Round(time.Millisecond), fenceAfter)
	}
	return nil
}

// publishLocked publishes the lease state from the fields it derives from.
// The caller holds m.mu and calls it after changing lastRenew, fenced,
// lapsed, session or left.
func (m *Membership) publishLocked() {
	m.lease.Store(&leaseState{lastRenew: m.lastRenew, blocked: blockReason(m.fenced, m.left, m.lapsed, m.session)})
}
