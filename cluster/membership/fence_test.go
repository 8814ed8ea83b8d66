package membership

import (
	"testing"
	"time"
)

// fakeClock is a manually advanced clock for the fencing rule.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func TestLeaseExpired(t *testing.T) {
	const fenceAfter = 1750 * time.Millisecond
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		lastRenew time.Time
		now       time.Time
		want      bool
	}{
		{"never renewed", time.Time{}, t0, true},
		{"just renewed", t0, t0, false},
		{"one renew interval old", t0, t0.Add(500 * time.Millisecond), false},
		{"just below FenceAfter", t0, t0.Add(fenceAfter - time.Nanosecond), false},
		{"exactly FenceAfter", t0, t0.Add(fenceAfter), true},
		{"past FenceAfter", t0, t0.Add(time.Minute), true},
		{"clock went backwards", t0, t0.Add(-time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := leaseExpired(tt.lastRenew, tt.now, fenceAfter); got != tt.want {
				t.Errorf("leaseExpired(%v, %v, %v) = %v, want %v", tt.lastRenew, tt.now, fenceAfter, got, tt.want)
			}
		})
	}
}

func TestDecideFence(t *testing.T) {
	const fenceAfter = time.Second
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	fresh, stale := t0.Add(-100*time.Millisecond), t0.Add(-2*time.Second)
	tests := []struct {
		name       string
		fenced     bool
		lastRenew  time.Time
		session    string
		wantAction fenceAction
		wantReason string
	}{
		{"healthy stays", false, fresh, "s1", fenceKeep, ""},
		{"lease expired fences", false, stale, "s1", fenceStart, reasonLeaseExpired},
		{"lease expired without session reports the lease", false, stale, "", fenceStart, reasonLeaseExpired},
		{"session lost fences", false, fresh, "", fenceStart, reasonNoSession},
		{"fenced without session stays", true, fresh, "", fenceKeep, ""},
		{"fenced with stale lease stays", true, stale, "s2", fenceKeep, ""},
		{"fenced, fresh lease and session unfences", true, fresh, "s2", fenceEnd, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			action, reason := decideFence(fenceInput{
				fenced: tt.fenced, lastRenew: tt.lastRenew, session: tt.session, now: t0, fenceAfter: fenceAfter,
			})
			if action != tt.wantAction || reason != tt.wantReason {
				t.Errorf("decideFence = (%v, %q), want (%v, %q)", action, reason, tt.wantAction, tt.wantReason)
			}
		})
	}
}

// TestFenceTimelineFakeClock walks a partition with the default timings:
// renewals every RenewInterval keep the node unfenced; once they stop the
// node fences at FenceAfter after the last successful send, strictly before
// Consul's TTL can lapse (which counts from the later moment the agent
// received that renewal); a renewal plus a new session unfences it.
func TestFenceTimelineFakeClock(t *testing.T) {
	cfg := DefaultConfig()
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	in := fenceInput{session: "s1", fenceAfter: cfg.FenceAfter}
	step := func(wantAction fenceAction) {
		t.Helper()
		in.now = clock.Now()
		action, _ := decideFence(in)
		if action != wantAction {
			t.Fatalf("at +%v (last renew +%v): action %v, want %v",
				in.now.Sub(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), in.lastRenew.Sub(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), action, wantAction)
		}
		switch action {
		case fenceStart:
			in.fenced, in.session = true, ""
		case fenceEnd:
			in.fenced = false
		}
	}

	// Healthy: renew, tick, renew...
	for range 10 {
		in.lastRenew = clock.Now()
		clock.Advance(cfg.fenceCheckInterval())
		step(fenceKeep)
		clock.Advance(cfg.RenewInterval - cfg.fenceCheckInterval())
	}
	// Partition: the last renewal was sent now; nothing succeeds after it.
	lastSent := clock.Now()
	in.lastRenew = lastSent
	var fencedAt time.Time
	for clock.Now().Sub(lastSent) < cfg.TTL {
		clock.Advance(cfg.fenceCheckInterval())
		in.now = clock.Now()
		if action, _ := decideFence(in); action == fenceStart {
			fencedAt = clock.Now()
			step(fenceStart)
			break
		}
		step(fenceKeep)
	}
	if fencedAt.IsZero() {
		t.Fatalf("not fenced within TTL %v of the last renewal", cfg.TTL)
	}
	if age := fencedAt.Sub(lastSent); age < cfg.FenceAfter || age >= cfg.TTL {
		t.Fatalf("fenced %v after the last renewal, want within [FenceAfter %v, TTL %v)", age, cfg.FenceAfter, cfg.TTL)
	}

	// Consul answers again: a renewal alone does not unfence...
	clock.Advance(5 * time.Second)
	in.lastRenew = clock.Now()
	step(fenceKeep)
	// ...a new session does.
	in.session = "s2"
	step(fenceEnd)
}
