package grains_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/grainstate/grainstatetest"
	"github.com/granary-rt/granary/cluster/metrics"
	dto "github.com/prometheus/client_model/go"
)

// stateOps reads granary_grain_state_operations_total{op,code} and the
// sample count of the duration histogram of op from m's registry.
func stateOps(t *testing.T, m *metrics.Metrics, op, code string) (count float64, timed uint64) {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	labels := func(mt *dto.Metric) map[string]string {
		out := map[string]string{}
		for _, lp := range mt.GetLabel() {
			out[lp.GetName()] = lp.GetValue()
		}
		return out
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			l := labels(mt)
			switch {
			case mf.GetName() == "granary_grain_state_operations_total" && l["op"] == op && l["code"] == code:
				count = mt.GetCounter().GetValue()
			case mf.GetName() == "granary_grain_state_operation_duration_seconds" && l["op"] == op:
				timed = mt.GetHistogram().GetSampleCount()
			}
		}
	}
	return count, timed
}

// TestInstrumentStateConforms: the instrumented store passes the state
// store conformance suite (reminder index included), so it changes
// nothing of what the store does.
func TestInstrumentStateConforms(t *testing.T) {
	m := metrics.New(metrics.DefaultConfig())
	grainstatetest.Run(t, func(t *testing.T) grainstatetest.Store {
		return localStore(t, func(st grains.StateStore) grains.StateStore { return grains.InstrumentState(st, m) })
	})
	if n, _ := stateOps(t, m, "save", "conflict"); n == 0 {
		t.Error("the suite's conflicting writes were not counted")
	}
}

// TestInstrumentStateCounts: each operation is counted by op and outcome
// and timed; the store's abilities are kept and none is added.
func TestInstrumentStateCounts(t *testing.T) {
	ctx := context.Background()
	if st := (&grains.LocalState{}); grains.InstrumentState(st, nil) != grains.StateStore(st) {
		t.Error("with metrics off the store is wrapped")
	}
	m := metrics.New(metrics.DefaultConfig())
	st := grains.InstrumentState(&grains.LocalState{}, m)
	rs, ok := st.(grains.ReminderStore)
	if !ok {
		t.Fatal("a ReminderStore lost its reminder index")
	}
	if _, ok := grains.InstrumentState(stateOnly{&grains.LocalState{}}, m).(grains.ReminderStore); ok {
		t.Error("a store without a reminder index became a ReminderStore")
	}
	v, err := st.SaveState(ctx, "counter", "c1", "m1", []byte("a"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveState(ctx, "counter", "c1", "m1", []byte("b"), v+1); err == nil {
		t.Fatal("a stale version was written")
	}
	if _, _, err := st.LoadState(ctx, "counter", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.SaveStateIndexed(ctx, "counter", "c1", "m1", []byte("c"), v, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rs.WatchReminders(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteState(ctx, "counter", "c1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		op, code string
		count    float64
		timed    uint64
	}{
		{"save", "ok", 1, 2}, {"save", "conflict", 1, 2}, {"load", "ok", 1, 1}, {"save_indexed", "ok", 1, 1},
		{"watch_reminders", "ok", 1, 0}, {"delete", "ok", 1, 1},
	} {
		count, timed := stateOps(t, m, c.op, c.code)
		if count != c.count || timed != c.timed {
			t.Errorf("op=%s code=%s: counted %v, timed %d; want %v and %d", c.op, c.code, count, timed, c.count, c.timed)
		}
	}
}

// TestInstrumentStateAllocatesNothing: counting a write costs no
// allocation beyond the store's own.
func TestInstrumentStateAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	st := grains.InstrumentState(nopState{}, metrics.New(metrics.DefaultConfig()))
	if allocs := testing.AllocsPerRun(100, func() { _, _ = st.SaveState(ctx, "counter", "c1", "m1", nil, 1) }); allocs != 0 {
		t.Errorf("%v allocations per write, want 0", allocs)
	}
}

// stateOnly hides every ability of a store but StateStore's.
type stateOnly struct{ grains.StateStore }

// nopState is a store that does nothing and allocates nothing.
type nopState struct{}

func (nopState) LoadState(context.Context, string, string) ([]byte, uint64, error) {
	return nil, 0, nil
}
func (nopState) SaveState(_ context.Context, _, _, _ string, _ []byte, v uint64) (uint64, error) {
	return v + 1, nil
}
func (nopState) DeleteState(context.Context, string, string) error { return nil }

// ExampleInstrumentState counts a grain state store's operations, as a
// node does with its own (its metrics, its store).
func ExampleInstrumentState() {
	m := metrics.New(metrics.DefaultConfig())
	st := grains.InstrumentState(&grains.LocalState{}, m)
	_, _ = st.SaveState(context.Background(), "counter", "c1", "m1", []byte(`{"value":1}`), 0)
	_, _ = st.SaveState(context.Background(), "counter", "c1", "m1", []byte(`{"value":2}`), 0) // stale: a conflict
	mfs, _ := m.Registry().Gather()
	for _, mf := range mfs {
		if mf.GetName() != "granary_grain_state_operations_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			if v := mt.GetCounter().GetValue(); v > 0 {
				fmt.Println(mt.GetLabel()[0].GetName(), mt.GetLabel()[0].GetValue(), mt.GetLabel()[1].GetName(), mt.GetLabel()[1].GetValue(), v)
			}
		}
	}
	// Output:
	// code conflict op save 1
	// code ok op save 1
}
