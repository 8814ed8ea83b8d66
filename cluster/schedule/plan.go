package schedule

import (
	"time"

	"github.com/granary-rt/granary/messages"
)

// State is what planning reads of a schedule's firing state.
type State struct {
	// LastSlot is the latest scheduled time decided; the first slot after
	// it is the next one due. Zero reads as now (nothing due yet).
	LastSlot time.Time
	// Queued is the slot OVERLAP_QUEUE_ONE holds (zero: none).
	Queued time.Time
	// Busy: the schedule's last run has not finished.
	Busy bool
}

// Rules are a schedule's declaration as planning needs it.
type Rules struct {
	Spec    Spec
	Overlap messages.Overlap
	// CatchUp is how far back a due slot still runs: older ones are
	// missed (counted, never run).
	CatchUp time.Duration
	// MaxCatchUp caps the slots one plan considers: of more due at once,
	// only the latest MaxCatchUp are (the earlier ones are missed). 0: 1.
	MaxCatchUp int
}

// Decision is what a schedule does now.
type Decision struct {
	// Fire are the slots to run now, oldest first (a queued slot first).
	Fire []time.Time
	// Skipped counts the slots an overlap dropped, Missed those older than
	// the catch-up window or past its cap.
	Skipped, Missed int
	// LastSlot and Queued are the firing state after the decision.
	LastSlot, Queued time.Time
	// Next is the next slot due after LastSlot (zero: none).
	Next time.Time
}

// maxCounted bounds the slots one plan walks through to count the missed
// ones: past it the count stops (a schedule of every second left alone for
// a year), and the plan jumps to the catch-up window.
const maxCounted = 1 << 20

// Plan decides what a schedule in state st does at now under rules r:
// which slots run, which are skipped or missed, and the firing state after.
// It is pure: the same inputs give the same decision on every member.
//
// The due slots are those after st.LastSlot up to now. Those older than
// r.CatchUp (a member down, no member hosting the kind) are missed; of the
// rest, only the latest r.MaxCatchUp are considered. Each considered slot,
// oldest first, meets the overlap policy: with a run in flight (the last
// one, or one this plan fires) OVERLAP_SKIP drops it, OVERLAP_QUEUE_ONE
// holds it unless it holds one already (then drops it), and OVERLAP_ALLOW
// runs it anyway. A held slot runs first, once no run is in flight.
func Plan(st State, r Rules, now time.Time) Decision {
	d := Decision{LastSlot: st.LastSlot, Queued: st.Queued}
	if d.LastSlot.IsZero() {
		d.LastSlot = now
	}
	busy := st.Busy
	overlap := r.Overlap
	if overlap == messages.Overlap_OVERLAP_UNSPECIFIED {
		overlap = messages.Overlap_OVERLAP_SKIP
	}
	if !busy && !d.Queued.IsZero() {
		d.Fire = append(d.Fire, d.Queued)
		d.Queued = time.Time{}
		busy = true
	}
	for _, slot := range dueSlots(&d, r, now) {
		switch {
		case !busy || overlap == messages.Overlap_OVERLAP_ALLOW:
			d.Fire = append(d.Fire, slot)
			busy = true
		case overlap == messages.Overlap_OVERLAP_QUEUE_ONE && d.Queued.IsZero():
			d.Queued = slot
		default:
			d.Skipped++
		}
	}
	d.Next = r.Spec.Next(d.LastSlot)
	return d
}

// dueSlots returns the slots of d.LastSlot's successors up to now that the
// catch-up rules let run, oldest first, counting the others in d.Missed and
// moving d.LastSlot past them all.
func dueSlots(d *Decision, r Rules, now time.Time) []time.Time {
	keep := max(r.MaxCatchUp, 1)
	oldest := now.Add(-max(r.CatchUp, 0))
	var due []time.Time
	walked := 0
	for slot := r.Spec.Next(d.LastSlot); !slot.IsZero() && !slot.After(now); slot = r.Spec.Next(d.LastSlot) {
		if walked++; walked > maxCounted {
			// Stop counting: jump to the window (the slots jumped over are
			// not counted), or leave the rest to the next plan.
			jump := oldest.Add(-time.Nanosecond)
			if !jump.After(d.LastSlot) {
				break
			}
			d.LastSlot, walked = jump, 0
			continue
		}
		d.LastSlot = slot
		if slot.Before(oldest) {
			d.Missed++
			continue
		}
		if len(due) == keep {
			d.Missed++
			due = append(due[:0], due[1:]...)
		}
		due = append(due, slot)
	}
	return due
}
