package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestGrainStateCountsOperations(t *testing.T) {
	m := newMetrics(t)
	start := time.Now()
	m.GrainState(StateLoad, start, nil)
	m.GrainState(StateSave, start, nil)
	m.GrainState(StateSave, start, fmt.Errorf("grain state: %w", store.ErrConflict))
	m.GrainState(StateSaveIndexed, start, errors.New("consul: 500"))
	m.GrainState(StateDelete, start, context.Canceled)
	m.GrainState(StateWatchReminders, start, nil)
	m.GrainState(numStateOps, start, nil) // out of range: nothing
	for _, c := range []struct {
		op, code string
		want     float64
	}{{"load", "ok", 1}, {"save", "ok", 1}, {"save", "conflict", 1}, {"save_indexed", "error", 1}, {"delete", "canceled", 1},
		{"watch_reminders", "ok", 1}, {"load", "not_found", 0}} {
		if got := testutil.ToFloat64(m.state.ops.WithLabelValues(c.op, c.code)); got != c.want {
			t.Errorf("granary_grain_state_operations_total{op=%s,code=%s} = %v, want %v", c.op, c.code, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.state.ops, "granary_grain_state_operations_total"); n != int(numStateOps)*numCodes {
		t.Errorf("%d operation series, want every (op, code) from the start (%d)", n, int(numStateOps)*numCodes)
	}
	if got := histogramCount(t, m, "granary_grain_state_operation_duration_seconds", "op", "save"); got != 2 {
		t.Errorf("save timed %d times, want 2", got)
	}
	if got := histogramCount(t, m, "granary_grain_state_operation_duration_seconds", "op", "watch_reminders"); got != 0 {
		t.Errorf("watch_reminders, a long poll, was timed %d times", got)
	}
	if s := StateOp(200).String(); s != "unknown" {
		t.Errorf("StateOp(200) = %q", s)
	}
}

func TestGrainStateCostsNothing(t *testing.T) {
	var off *Metrics
	on := New(DefaultConfig())
	err := fmt.Errorf("wrapped: %w", store.ErrConflict)
	for name, m := range map[string]*Metrics{"off": off, "on": on} {
		start := time.Now()
		allocs := testing.AllocsPerRun(100, func() {
			m.GrainState(StateSave, start, nil)
			m.GrainState(StateSave, start, err)
		})
		if allocs != 0 {
			t.Errorf("metrics %s: %v allocations per record, want 0", name, allocs)
		}
	}
}

func BenchmarkGrainStateSave(b *testing.B) {
	m := New(DefaultConfig())
	b.ReportAllocs()
	for b.Loop() {
		m.GrainState(StateSave, time.Now(), nil)
	}
}
