package grains

import (
	"context"
	"time"

	"github.com/granary-rt/granary/cluster/metrics"
)

// InstrumentState returns st with every operation counted and timed in m
// (granary_grain_state_operations_total and
// granary_grain_state_operation_duration_seconds, by op and outcome code,
// as metrics.Store does for the task store); with m nil, st itself. A
// ReminderStore stays one (Host looks for it), and a store without a
// reminder index does not become one. A node wraps its store once and
// hands the result to both the host (Config.State) and the HTTP API, so
// GET and DELETE of a grain's state are counted too.
func InstrumentState(st StateStore, m *metrics.Metrics) StateStore {
	if m == nil || st == nil {
		return st
	}
	s := &instrumentedState{st: st, m: m}
	if rs, ok := st.(ReminderStore); ok {
		return &instrumentedReminders{instrumentedState: s, rs: rs}
	}
	return s
}

// instrumentedState counts and times a StateStore's operations. It holds
// no state of its own: each record is a clock read and two atomic adds.
type instrumentedState struct {
	st StateStore
	m  *metrics.Metrics
}

func (s *instrumentedState) LoadState(ctx context.Context, kind, identity string) ([]byte, uint64, error) {
	start := time.Now()
	data, version, err := s.st.LoadState(ctx, kind, identity)
	s.m.GrainState(metrics.StateLoad, start, err)
	return data, version, err
}

func (s *instrumentedState) SaveState(ctx context.Context, kind, identity, member string, data []byte, version uint64) (uint64, error) {
	start := time.Now()
	next, err := s.st.SaveState(ctx, kind, identity, member, data, version)
	s.m.GrainState(metrics.StateSave, start, err)
	return next, err
}

func (s *instrumentedState) DeleteState(ctx context.Context, kind, identity string) error {
	start := time.Now()
	err := s.st.DeleteState(ctx, kind, identity)
	s.m.GrainState(metrics.StateDelete, start, err)
	return err
}

// instrumentedReminders is instrumentedState of a ReminderStore.
type instrumentedReminders struct {
	*instrumentedState
	rs ReminderStore
}

func (s *instrumentedReminders) SaveStateIndexed(ctx context.Context, kind, identity, member string, data []byte, version uint64, changes []IndexChange) (uint64, error) {
	start := time.Now()
	next, err := s.rs.SaveStateIndexed(ctx, kind, identity, member, data, version, changes)
	s.m.GrainState(metrics.StateSaveIndexed, start, err)
	return next, err
}

func (s *instrumentedReminders) WatchReminders(ctx context.Context, shard int, index uint64) ([]IndexEntry, uint64, error) {
	start := time.Now()
	entries, next, err := s.rs.WatchReminders(ctx, shard, index)
	s.m.GrainState(metrics.StateWatchReminders, start, err)
	return entries, next, err
}
