package node_test

import (
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/internal/testutil"
	dto "github.com/prometheus/client_model/go"
)

type tallyReq struct {
	N int `json:"n"`
}

type tallyState struct {
	Sum int `json:"sum"`
}

type tally struct{}

func (tally) Receive(_ actors.GrainContext, st tallyState, req tallyReq) (tallyState, tallyState, error) {
	st.Sum += req.N
	return st, st, nil
}

// TestGrainStateMetrics: a node counts and times its grain state store's
// operations as it does its task store's. Calls to a durable grain over
// HTTP load its state once and store it on each call; GET and DELETE of
// the state (the API) are a load and a delete; /metrics shows each.
func TestGrainStateMetrics(t *testing.T) {
	cfg := embedded(t)
	k, err := actors.GrainWithState("tally", func() actors.StatefulGrain[tallyReq, tallyState, tallyState] { return tally{} })
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Registry.RegisterGrain(k); err != nil {
		t.Fatal(err)
	}
	n := start(t, cfg)
	scrapeNow := func() map[string]*dto.MetricFamily {
		_, mfs := scrape(t, n.HTTPAddr(), "")
		return mfs
	}
	op := func(op, code string) map[string]string { return map[string]string{"op": op, "code": code} }
	// Before any grain call: every (op, code) series is there, at zero.
	checkAll(t, scrapeNow, []expect{
		{"granary_grain_state_operations_total", op("save", "ok"), exactly(0), "0 before any call"},
		{"granary_grain_state_operations_total", op("load", "ok"), exactly(0), "0 before any call"},
	})

	ctx := testutil.Context(t, 30*time.Second)
	c := n.Client()
	call := func(req string) error {
		_, err := c.CallRaw(ctx, "tally", "t1", []byte(req))
		return err
	}
	if err := call(`{"n":2}`); err != nil {
		t.Fatal(err)
	}
	// The first call activated the grain (a load) and stored its state.
	mfs := checkAll(t, scrapeNow, []expect{
		{"granary_grain_state_operations_total", op("load", "ok"), exactly(1), "1: the activation's"},
		{"granary_grain_state_operations_total", op("save", "ok"), atLeast(1), "a write at least"},
	})
	saves, _ := value(mfs, "granary_grain_state_operations_total", op("save", "ok"))
	if err := call(`{"n":3}`); err != nil {
		t.Fatal(err)
	}
	// A bad request is refused before the grain: it writes nothing.
	if err := call(`{"n":"x"}`); err == nil {
		t.Fatal("a request that does not decode was accepted")
	}
	if _, err := c.GrainState(ctx, "tally", "t1"); err != nil {
		t.Fatal(err)
	}
	if err := c.ClearGrainState(ctx, "tally", "t1"); err != nil {
		t.Fatal(err)
	}
	checkAll(t, scrapeNow, []expect{
		{"granary_grain_state_operations_total", op("save", "ok"), exactly(saves + 1), "one more write: the second call's"},
		{"granary_grain_state_operations_total", op("load", "ok"), exactly(2), "2: the activation's and GET .../state"},
		{"granary_grain_state_operations_total", op("delete", "ok"), exactly(1), "1: DELETE .../state"},
		{"granary_grain_state_operations_total", op("save", "conflict"), exactly(0), "0"},
		{"granary_grain_state_operation_duration_seconds", map[string]string{"op": "save"}, exactly(saves + 1), "a sample per write"},
		{"granary_grain_state_operation_duration_seconds", map[string]string{"op": "delete"}, exactly(1), "1 sample"},
	})
}
