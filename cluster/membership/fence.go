package membership

import "time"

// leaseExpired is the self-fencing rule: a node whose last successful
// renewal was sent at lastRenew must consider its lease lost once
// fenceAfter has passed. A zero lastRenew (never renewed) is expired. A
// clock that went backwards (now before lastRenew) does not expire the
// lease: the renewal is then as fresh as can be.
func leaseExpired(lastRenew, now time.Time, fenceAfter time.Duration) bool {
	if lastRenew.IsZero() {
		return true
	}
	return now.Sub(lastRenew) >= fenceAfter
}

// renewalLapsed reports whether a renewal sent at sentAt came too late to
// extend the lease of the renewal before it, sent at lastRenew: the lease
// had already expired by the time it was sent, so Consul may have declared
// the node critical in between, invalidated its session and handed its
// claims to other members. Such a renewal starts a new lease; it must not
// revive the old session (the node fences and gets a new one). This is
// what a pause longer than the lease looks like from inside: the first
// renewal after waking up succeeds, yet everything the node held is gone.
// A zero lastRenew (never renewed) lapses nothing: the node starts fenced.
func renewalLapsed(lastRenew, sentAt time.Time, fenceAfter time.Duration) bool {
	return !lastRenew.IsZero() && leaseExpired(lastRenew, sentAt, fenceAfter)
}

// fenceInput is everything decideFence looks at.
type fenceInput struct {
	fenced     bool      // the node is fenced now
	lapsed     bool      // a renewal came after the lease had expired (renewalLapsed)
	lastRenew  time.Time // send time of the last successful renewal
	session    string    // the session the node believes valid, "" if none
	now        time.Time
	fenceAfter time.Duration
}

// fenceAction is decideFence's verdict.
type fenceAction int

const (
	fenceKeep  fenceAction = iota // no change
	fenceStart                    // stop executing: lease or session lost
	fenceEnd                      // resume: fresh lease and a new session
)

// Reasons decideFence gives for fenceStart, as logged.
const (
	reasonLeaseExpired = "lease expired"
	reasonLeaseLapsed  = "lease lapsed before its last renewal"
	reasonNoSession    = "session lost"
)

// decideFence is the pure core of self-fencing. An unfenced node fences as
// soon as its lease has expired, or lapsed and was renewed since, or it has
// lost its session (Consul invalidated it, or the registration it was tied
// to vanished): in each case the rest of the cluster may already treat it
// as dead. A fenced node
// unfences only with a fresh lease and a session; the shell clears the
// session when it fences, so that session is always a new one.
func decideFence(in fenceInput) (fenceAction, string) {
	expired := leaseExpired(in.lastRenew, in.now, in.fenceAfter)
	if !in.fenced {
		switch {
		case expired:
			return fenceStart, reasonLeaseExpired
		case in.lapsed:
			return fenceStart, reasonLeaseLapsed
		case in.session == "":
			return fenceStart, reasonNoSession
		}
		return fenceKeep, ""
	}
	if !expired && in.session != "" {
		return fenceEnd, ""
	}
	return fenceKeep, ""
}

// runFenceWatchdog evaluates the fencing rule on a ticker, independently of
// the renewal loop, so the node fences on time even while a renewal request
// hangs. It is the only goroutine that changes the fenced state and the
// only one that calls OnFence and OnUnfence, which keeps them in order.
// Its flag is for those callbacks only: after a pause, the tick comes late,
// so callers asking whether they may act get their answer from the lease
// at that moment instead (see leaseValid).
func (m *Membership) runFenceWatchdog() {
	tick := time.NewTicker(m.cfg.fenceCheckInterval())
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
		case <-m.fenceKick:
		}
		m.evaluateFence()
	}
}

// evaluateFence applies decideFence to the current state.
func (m *Membership) evaluateFence() {
	m.mu.Lock()
	in := fenceInput{
		fenced:     m.fenced,
		lapsed:     m.lapsed,
		lastRenew:  m.lastRenew,
		session:    m.session,
		now:        m.cfg.Clock(),
		fenceAfter: m.cfg.FenceAfter,
	}
	action, reason := decideFence(in)
	var callback func()
	switch action {
	case fenceKeep:
		m.mu.Unlock()
		return
	case fenceStart:
		m.fenced = true
		m.lapsed = false // the fence covers it: unfencing needs a new session
		if m.session != "" {
			// Consul may or may not have invalidated it yet; either way it
			// is lost to us. Destroy it before creating the next one, so its
			// locks do not outlive the fence.
			m.dropSessionLocked()
			m.mustPurge = true
		}
		callback = m.cfg.OnFence
	case fenceEnd:
		m.fenced = false
		callback = m.cfg.OnUnfence
	}
	firstJoin := action == fenceEnd && !m.joined
	if firstJoin {
		// The first unfence completes Join; it is not a recovery, so no
		// callback.
		m.joined = true
		close(m.joinedCh)
		callback = nil
	}
	session := m.session
	m.publishLocked()
	m.mu.Unlock()

	switch {
	case firstJoin:
		m.log.Debug("lease and session acquired", "session", session)
	case action == fenceStart: // never before the first session: the node starts fenced
		m.log.Warn("self-fencing: stop executing and committing durable work",
			"reason", reason, "last_renew_age", in.now.Sub(in.lastRenew).Round(time.Millisecond),
			"fence_after", m.cfg.FenceAfter)
	case action == fenceEnd:
		m.log.Info("unfenced: lease renewed and new session acquired", "session", session)
	}
	if callback != nil {
		callback()
	}
}
