package schedule

import (
	"slices"
	"testing"
	"time"

	"github.com/granary-rt/granary/messages"
)

func TestPlan(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	every, err := Parse("@every 1s", nil)
	if err != nil {
		t.Fatal(err)
	}
	const (
		skip  = messages.Overlap_OVERLAP_SKIP
		queue = messages.Overlap_OVERLAP_QUEUE_ONE
		allow = messages.Overlap_OVERLAP_ALLOW
	)
	cases := []struct {
		name    string
		st      State
		overlap messages.Overlap
		catchUp time.Duration
		maxUp   int
		now     time.Time
		fire    []time.Time
		skipped int
		missed  int
		queued  time.Time
		last    time.Time
	}{
		{name: "nothing due yet", st: State{LastSlot: sec(0)}, overlap: skip, now: sec(0).Add(500 * time.Millisecond), last: sec(0)},
		{name: "one due", st: State{LastSlot: sec(0)}, overlap: skip, now: sec(1), fire: []time.Time{sec(1)}, last: sec(1)},
		{name: "zero last slot reads as now", overlap: skip, now: sec(5), last: sec(5)},
		{name: "skip: busy drops it", st: State{LastSlot: sec(0), Busy: true}, overlap: skip, now: sec(1), skipped: 1, last: sec(1)},
		{name: "queue_one: busy holds it", st: State{LastSlot: sec(0), Busy: true}, overlap: queue, now: sec(1), queued: sec(1), last: sec(1)},
		{name: "queue_one: holds one, drops the rest", st: State{LastSlot: sec(0), Busy: true, Queued: sec(-3)}, overlap: queue, catchUp: time.Minute, now: sec(2), queued: sec(-3), skipped: 2, last: sec(2)},
		{name: "queue_one: the held one runs when free", st: State{LastSlot: sec(1), Queued: sec(1)}, overlap: queue, now: sec(2), fire: []time.Time{sec(1)}, queued: sec(2), last: sec(2)},
		{name: "allow: runs alongside", st: State{LastSlot: sec(0), Busy: true}, overlap: allow, catchUp: time.Minute, now: sec(2), fire: []time.Time{sec(1), sec(2)}, last: sec(2)},
		{name: "unspecified reads as skip", st: State{LastSlot: sec(0)}, catchUp: time.Minute, now: sec(3), fire: []time.Time{sec(1)}, skipped: 2, last: sec(3)},
		{name: "catch-up window: older slots missed", st: State{LastSlot: sec(0)}, overlap: allow, catchUp: 2 * time.Second, now: sec(10), fire: []time.Time{sec(8), sec(9), sec(10)}, missed: 7, last: sec(10)},
		{name: "catch-up cap keeps the latest", st: State{LastSlot: sec(0)}, overlap: allow, catchUp: time.Hour, maxUp: 2, now: sec(10), fire: []time.Time{sec(9), sec(10)}, missed: 8, last: sec(10)},
		{name: "no catch-up: only now", st: State{LastSlot: sec(0)}, overlap: allow, now: sec(10), fire: []time.Time{sec(10)}, missed: 9, last: sec(10)},
		{name: "clock went back", st: State{LastSlot: sec(10)}, overlap: allow, now: sec(5), last: sec(10)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.maxUp == 0 {
				c.maxUp = 100
			}
			d := Plan(c.st, Rules{Spec: every, Overlap: c.overlap, CatchUp: c.catchUp, MaxCatchUp: c.maxUp}, c.now)
			if !slices.EqualFunc(d.Fire, c.fire, time.Time.Equal) || d.Skipped != c.skipped || d.Missed != c.missed ||
				!d.Queued.Equal(c.queued) || !d.LastSlot.Equal(c.last) {
				t.Fatalf("Plan = fire %v, skipped %d, missed %d, queued %v, last %v;\nwant fire %v, skipped %d, missed %d, queued %v, last %v",
					d.Fire, d.Skipped, d.Missed, d.Queued, d.LastSlot, c.fire, c.skipped, c.missed, c.queued, c.last)
			}
			if want := every.Next(d.LastSlot); !d.Next.Equal(want) {
				t.Fatalf("Next = %v, want %v", d.Next, want)
			}
		})
	}
}

// TestPlanIsTheSameEverywhere: two members planning from the same state at
// the same time decide the same runs, so a run's id is the same whoever
// fires it; and planning again from the state after a decision at the same
// time decides nothing more (a firing retried runs nothing twice).
func TestPlanIsTheSameEverywhere(t *testing.T) {
	spec, err := Parse("*/5 * * * *", mustZone(t, "Europe/Paris"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 29, 0, 2, 0, 0, time.UTC)
	r := Rules{Spec: spec, Overlap: messages.Overlap_OVERLAP_ALLOW, CatchUp: time.Hour, MaxCatchUp: 100}
	now := t0.Add(47 * time.Minute)
	a, b := Plan(State{LastSlot: t0}, r, now), Plan(State{LastSlot: t0}, r, now)
	if !slices.EqualFunc(a.Fire, b.Fire, time.Time.Equal) || len(a.Fire) != 9 {
		t.Fatalf("two plans differ or fire %d runs, want 9 each: %v, %v", len(a.Fire), a.Fire, b.Fire)
	}
	again := Plan(State{LastSlot: a.LastSlot}, r, now)
	if len(again.Fire) != 0 || again.Missed != 0 {
		t.Fatalf("planning again fired %v (missed %d), want nothing", again.Fire, again.Missed)
	}
}

// FuzzPlan: whatever the state and time, a plan fires each slot once, in
// order, within the catch-up cap, and never moves the last slot back.
func FuzzPlan(f *testing.F) {
	f.Add(int64(0), int64(30), int64(5), uint8(1), false, uint8(3))
	f.Fuzz(func(t *testing.T, last, now, catchUp int64, overlap uint8, busy bool, maxUp uint8) {
		spec, err := Parse("@every 1s", nil)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		st := State{LastSlot: t0.Add(time.Duration(last%100_000) * time.Second), Busy: busy}
		r := Rules{Spec: spec, Overlap: messages.Overlap(overlap % 4), CatchUp: time.Duration(catchUp%10_000) * time.Second, MaxCatchUp: int(maxUp)}
		d := Plan(st, r, t0.Add(time.Duration(now%100_000)*time.Second))
		if len(d.Fire) > max(int(maxUp), 1) || d.LastSlot.Before(st.LastSlot) {
			t.Fatalf("Plan fired %d (cap %d), last slot %v (was %v)", len(d.Fire), maxUp, d.LastSlot, st.LastSlot)
		}
		for i := 1; i < len(d.Fire); i++ {
			if !d.Fire[i].After(d.Fire[i-1]) {
				t.Fatalf("fired %v out of order", d.Fire)
			}
		}
	})
}
