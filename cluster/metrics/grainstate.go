package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// stateInstruments are every (op, code) child of the grain state store's
// families, resolved at New, so a record is two atomic operations.
type stateInstruments struct {
	ops      *prometheus.CounterVec
	duration *prometheus.HistogramVec
	count    [numStateOps][numCodes]prometheus.Counter
	took     [numStateOps]prometheus.Observer
}

func newStateInstruments(buckets []float64) *stateInstruments {
	s := &stateInstruments{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "granary_grain_state_operations_total",
			Help: "Grain state store operations (durable grains' state and reminder index), by op and outcome code (ok, not_found, conflict: answers; unavailable, closed, canceled, error: errors)."}, []string{"op", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "granary_grain_state_operation_duration_seconds",
			Help: "Latency of grain state store operations, by op (watch_reminders, a long poll, is not timed).", Buckets: buckets}, []string{"op"}),
	}
	for op := range numStateOps {
		for code := range numCodes {
			s.count[op][code] = s.ops.WithLabelValues(stateOpNames[op], codeNames[code])
		}
		s.took[op] = s.duration.WithLabelValues(stateOpNames[op])
	}
	return s
}

// GrainState records one operation of the grain state store begun at
// start: counted by op and err's code (as the task store's: store.ErrConflict
// is conflict, store.ErrNotFound not_found, ...), and timed unless it is
// a watch. An op out of range records nothing. Nil records nothing.
func (m *Metrics) GrainState(op StateOp, start time.Time, err error) {
	if m == nil || m.state == nil || op >= numStateOps {
		return
	}
	m.state.count[op][codeOf(err)].Inc()
	if op != StateWatchReminders {
		m.state.took[op].Observe(time.Since(start).Seconds())
	}
}
