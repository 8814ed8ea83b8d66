package supervisor

import (
	"testing"
	"time"
)

// FuzzBudget drives a two-child tree with failures at non-decreasing
// instants and checks the budget both ways: no window ever holds more than
// MaxRestarts restarts, and the tree escalates only when the window is full.
func FuzzBudget(f *testing.F) {
	f.Add(int8(2), uint16(1000), []byte{0, 1, 2, 200, 3, 0x80, 0x81, 10, 255})
	f.Add(int8(0), uint16(0), []byte{1, 2, 3})
	f.Add(int8(3), uint16(0), []byte{0, 0, 0, 0, 0, 0x80})
	f.Add(int8(-1), uint16(50), []byte{0, 0, 0, 0, 0, 0, 0})
	f.Add(int8(1), uint16(100), []byte{100, 0x80 | 100, 99, 1, 0})
	f.Fuzz(func(t *testing.T, maxRestarts int8, periodMs uint16, events []byte) {
		budget := Budget{MaxRestarts: int(maxRestarts) % 8, Period: time.Duration(periodMs) * time.Millisecond}
		tree := mustTree(t, Spec{Strategy: OneForAll, Budget: budget}, Child{ID: "a"}, Child{ID: "b"})
		inWindow := func(granted []time.Time, now time.Time) int {
			if budget.Period == 0 {
				return len(granted)
			}
			n := 0
			for _, g := range granted {
				if now.Sub(g) < budget.Period {
					n++
				}
			}
			return n
		}
		var granted []time.Time
		now := t0
		for _, e := range events {
			now = now.Add(time.Duration(e&0x7f) * 10 * time.Millisecond)
			id := "a"
			if e&0x80 != 0 {
				id = "b"
			}
			d := tree.Failed(id, Failure{Err: errBoom}, now, 0)
			switch d.Directive {
			case Restart:
				if !budget.Unlimited() && inWindow(granted, now) >= budget.MaxRestarts {
					t.Fatalf("restart granted at %s with a full window", now.Sub(t0))
				}
				if d.Restart < 1 || len(d.Targets) != 2 {
					t.Fatalf("bad restart decision %+v", d)
				}
				granted = append(granted, now)
			case Escalate:
				if budget.Unlimited() || inWindow(granted, now) < budget.MaxRestarts {
					t.Fatalf("escalated at %s with room in the budget: %s", now.Sub(t0), d.Reason)
				}
			default:
				t.Fatalf("unexpected directive %v", d.Directive)
			}
		}
		if budget.Unlimited() {
			return
		}
		for i, start := range granted {
			end := start.Add(budget.Period)
			n := 0
			for _, g := range granted[i:] {
				if budget.Period == 0 || g.Before(end) {
					n++
				}
			}
			if n > budget.MaxRestarts {
				t.Fatalf("%d restarts in the window starting at %s, budget %v", n, start.Sub(t0), budget)
			}
		}
	})
}
