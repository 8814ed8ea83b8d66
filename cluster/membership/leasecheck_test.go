package membership

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLeaseValid(t *testing.T) {
	const fenceAfter = 1750 * time.Millisecond
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		state      *leaseState
		now        time.Time
		want       bool
		wantReason string // in CheckLease's error; "" when valid
	}{
		{"nothing published", nil, t0, false, "not joined"},
		{"fresh and unblocked", &leaseState{lastRenew: t0}, t0.Add(time.Second), true, ""},
		{"just below FenceAfter", &leaseState{lastRenew: t0}, t0.Add(fenceAfter - time.Nanosecond), true, ""},
		// The flag says nothing, the clock says the lease is gone: a pause.
		{"expired although unflagged", &leaseState{lastRenew: t0}, t0.Add(fenceAfter), false, reasonLeaseExpired},
		{"six second pause", &leaseState{lastRenew: t0}, t0.Add(6 * time.Second), false, "6s ago"},
		{"never renewed", &leaseState{}, t0, false, "never renewed"},
		{"fresh but fenced", &leaseState{lastRenew: t0, blocked: reasonFenced}, t0, false, reasonFenced},
		{"fresh but lapsed", &leaseState{lastRenew: t0, blocked: reasonLeaseLapsed}, t0, false, reasonLeaseLapsed},
		{"fresh but no session", &leaseState{lastRenew: t0, blocked: reasonNoSession}, t0, false, reasonNoSession},
		{"fresh but left", &leaseState{lastRenew: t0, blocked: reasonLeft}, t0, false, reasonLeft},
		{"clock went backwards", &leaseState{lastRenew: t0}, t0.Add(-time.Hour), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := leaseValid(tt.state, tt.now, fenceAfter); got != tt.want {
				t.Errorf("leaseValid = %v, want %v", got, tt.want)
			}
			err := checkLease(tt.state, tt.now, fenceAfter)
			switch {
			case tt.want && err != nil:
				t.Errorf("checkLease = %v, want nil", err)
			case !tt.want && !errors.Is(err, ErrFenced):
				t.Errorf("checkLease = %v, want an error wrapping ErrFenced", err)
			case !tt.want && !strings.Contains(err.Error(), tt.wantReason):
				t.Errorf("checkLease = %q, want it to say %q", err, tt.wantReason)
			}
		})
	}
}

func TestBlockReason(t *testing.T) {
	tests := []struct {
		name                 string
		fenced, left, lapsed bool
		session              string
		want                 string
	}{
		{"acting", false, false, false, "s1", ""},
		{"fenced", true, false, false, "", reasonFenced},
		{"fenced with a new session not yet unfenced", true, false, false, "s2", reasonFenced},
		{"lapsed", false, false, true, "s1", reasonLeaseLapsed},
		{"session lost before the watchdog fenced", false, false, false, "", reasonNoSession},
		{"left wins", true, true, true, "", reasonLeft},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := blockReason(tt.fenced, tt.left, tt.lapsed, tt.session); got != tt.want {
				t.Errorf("blockReason = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenewalLapsed(t *testing.T) {
	cfg := DefaultConfig()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		lastRenew time.Time
		sentAt    time.Time
		want      bool
	}{
		{"first renewal ever", time.Time{}, t0, false},
		{"on schedule", t0, t0.Add(cfg.RenewInterval), false},
		{"three renewals lost", t0, t0.Add(3 * cfg.RenewInterval), false},
		{"just before FenceAfter", t0, t0.Add(cfg.FenceAfter - time.Nanosecond), false},
		{"at FenceAfter", t0, t0.Add(cfg.FenceAfter), true},
		{"after a six second pause", t0, t0.Add(6 * time.Second), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := renewalLapsed(tt.lastRenew, tt.sentAt, cfg.FenceAfter); got != tt.want {
				t.Errorf("renewalLapsed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecideFenceOnLapse(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	in := fenceInput{lapsed: true, lastRenew: t0, session: "s1", now: t0, fenceAfter: time.Second}
	if action, reason := decideFence(in); action != fenceStart || reason != reasonLeaseLapsed {
		t.Fatalf("unfenced, fresh lease after a lapse: (%v, %q), want (fenceStart, %q)", action, reason, reasonLeaseLapsed)
	}
}

// pausedMembership is a Membership with no goroutines and no Consul: the
// test plays the lease loop and the watchdog by hand on a fake clock.
type pausedMembership struct {
	*Membership
	clock            *fakeClock
	fences, unfences int
}

func newPausedMembership(t *testing.T) *pausedMembership {
	t.Helper()
	p := &pausedMembership{clock: &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}}
	cfg := testConfig(t, "n1", "127.0.0.1:1", "127.0.0.1:2")
	cfg.Clock = p.clock.Now
	cfg.OnFence = func() { p.fences++ }
	cfg.OnUnfence = func() { p.unfences++ }
	m, err := newMembership(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.Membership = m
	return p
}

// setSession plays acquireSession's bookkeeping.
func setSession(m *Membership, id string) {
	m.mu.Lock()
	m.session = id
	m.publishLocked()
	m.mu.Unlock()
}

func (p *pausedMembership) wantFenced(t *testing.T, when string, want bool) {
	t.Helper()
	if got := p.Fenced(); got != want {
		t.Fatalf("%s: Fenced() = %v, want %v (CheckLease: %v)", when, got, want, p.CheckLease())
	}
	if err := p.CheckLease(); (err != nil) != want || (want && !errors.Is(err, ErrFenced)) {
		t.Fatalf("%s: CheckLease() = %v, want fenced %v", when, err, want)
	}
	if s := p.Session(); (s == "") != want {
		t.Fatalf("%s: Session() = %q while fenced %v", when, s, want)
	}
}

// TestFencedAnswersFromTheClockAcrossAPause is issue #11's fault, replayed
// on a fake clock: the process stops for 6s with a fresh lease and no
// watchdog tick runs until long after it wakes. Every caller asking "may I
// act" in between must hear no; the first renewal after waking must not
// make the old session usable again; only the fence and a new session do.
func TestFencedAnswersFromTheClockAcrossAPause(t *testing.T) {
	p := newPausedMembership(t)
	cfg := p.cfg
	p.wantFenced(t, "before joining", true)

	p.renewed(p.clock.Now())
	setSession(p.Membership, "s1")
	p.evaluateFence()
	p.wantFenced(t, "joined", false)

	// Timely renewals keep the node acting with no help from the watchdog.
	for range 8 {
		p.clock.Advance(cfg.RenewInterval)
		p.renewed(p.clock.Now())
		p.wantFenced(t, "renewing on schedule", false)
	}

	// The pause: no goroutine runs, the clock moves on.
	p.clock.Advance(cfg.FenceAfter - time.Nanosecond)
	p.wantFenced(t, "just before FenceAfter", false)
	p.clock.Advance(6 * time.Second)
	p.wantFenced(t, "woken up, before any tick", true)
	if p.fenced {
		t.Fatal("the test is meant to run with the watchdog's flag still false")
	}

	// The lease loop wins the race to run after waking: its renewal
	// succeeds, but the lease had lapsed and the session s1 is Consul's
	// to have invalidated. Still fenced.
	p.renewed(p.clock.Now())
	p.wantFenced(t, "renewed after the lapse, old session", true)

	// The watchdog fences (dropping s1) and the node later unfences with a
	// new session, calling each callback once.
	p.evaluateFence()
	p.wantFenced(t, "fenced by the watchdog", true)
	if p.fences != 1 || p.session != "" {
		t.Fatalf("after the watchdog: %d OnFence calls, session %q; want 1 and none", p.fences, p.session)
	}
	p.clock.Advance(cfg.RenewInterval)
	p.renewed(p.clock.Now())
	p.wantFenced(t, "renewed, no session yet", true)
	setSession(p.Membership, "s2")
	p.wantFenced(t, "new session, watchdog not yet run", true)
	p.evaluateFence()
	p.wantFenced(t, "unfenced", false)
	if p.unfences != 1 {
		t.Fatalf("%d OnUnfence calls, want 1", p.unfences)
	}
}

// TestRenewalsOutOfOrder: a slow renewal acknowledged after a newer one
// neither moves the lease back nor counts as a lapse.
func TestRenewalsOutOfOrder(t *testing.T) {
	p := newPausedMembership(t)
	t0 := p.clock.Now()
	p.renewed(t0)
	setSession(p.Membership, "s1")
	p.evaluateFence()
	p.renewed(t0.Add(time.Second))
	p.renewed(t0.Add(500 * time.Millisecond)) // sent earlier, answered later
	p.clock.Advance(time.Second + p.cfg.FenceAfter - time.Nanosecond)
	p.wantFenced(t, "FenceAfter after the newest renewal, less a nanosecond", false)
}

// BenchmarkFenced is the cost every grain message pays, three times.
func BenchmarkFenced(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Cluster, cfg.NodeID, cfg.Addr, cfg.HTTPAddr = "bench", "n1", "127.0.0.1:1", "127.0.0.1:2"
	m, err := newMembership(cfg)
	if err != nil {
		b.Fatal(err)
	}
	m.renewed(time.Now())
	setSession(m, "s1")
	m.evaluateFence()
	if m.Fenced() {
		b.Fatal("fenced")
	}
	b.ReportAllocs()
	fenced := false
	for b.Loop() {
		fenced = fenced || m.Fenced()
	}
	if fenced {
		b.Fatal("fenced during the benchmark")
	}
}
