package metrics

import (
	"time"
)

// StateOp is an operation of the grain state store (durable grains' state
// and their reminder index: grains.StateStore and grains.ReminderStore),
// the op label of granary_grain_state_operations_total. The store itself
// is wrapped in package grains (grains.InstrumentState), which this
// package cannot import.
type StateOp uint8

// The grain state store's operations.
const (
	StateLoad           StateOp = iota // an activation loads its record (LoadState)
	StateSave                          // a call's changes are stored (SaveState)
	StateSaveIndexed                   // stored with reminder index changes (SaveStateIndexed)
	StateDelete                        // the state is cleared (DeleteState)
	StateWatchReminders                // a reminder shard is read or watched (WatchReminders, a long poll: counted, not timed)
	numStateOps
)

var stateOpNames = [numStateOps]string{"load", "save", "save_indexed", "delete", "watch_reminders"}

func (op StateOp) String() string {
	if op < numStateOps {
		return stateOpNames[op]
	}
	return "unknown"
}

// GrainState records one operation of the grain state store begun at
// start: counted by op and err's code (as the task store's: grains.ErrStateConflict
// is conflict, store.ErrNotFound not_found, ...), and timed unless it is
// a watch. An op out of range records nothing. Nil records nothing.
func (m *Metrics) GrainState(op StateOp, start time.Time, err error) {
	if m == nil || m.state == nil || op >= numStateOps {
		return
	}
	m.state.done(int(op), start, err)
}
