package kvtxn

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/hashicorp/consul/api"
)

// TestRefusedUnitsDoNotFailTheirBatch: one transaction carries five
// units; Consul refuses it because of two of them (a stale check-and-set,
// a session check on a key no session holds). Those two get their
// refusal, with the operation's index within the unit; the other three
// commit, each with its own results.
// Both ways of sending a transaction: consul/api's KV.Txn and an
// Endpoint.
func TestRefusedUnitsDoNotFailTheirBatch(t *testing.T) {
	for _, via := range []string{"kv.Txn", "endpoint"} {
		t.Run(via, func(t *testing.T) { refusedUnitsDoNotFailTheirBatch(t, via) })
	}
}

// startSender starts an agent and a batcher of cfg on it that sends
// through KV.Txn or (via "endpoint") an Endpoint of the agent.
func startSender(t *testing.T, via string, cfg Config) (*api.KV, *Batcher) {
	agent := testconsul.Start(t, testconsul.Options{})
	if via == "endpoint" {
		ep, ok := EndpointOf(&api.Config{Address: agent.HTTPAddr()})
		if !ok {
			t.Fatal("no endpoint for a plain address")
		}
		cfg.Endpoint = ep
	}
	b := New(agent.Client().KV(), cfg)
	t.Cleanup(b.Close)
	return agent.Client().KV(), b
}

func refusedUnitsDoNotFailTheirBatch(t *testing.T, via string) {
	kv, b := startSender(t, via, DefaultConfig())
	if _, err := kv.Put(&api.KVPair{Key: "b", Value: []byte("old")}, nil); err != nil {
		t.Fatal(err)
	}
	units := []*unit{
		{ops: api.KVTxnOps{{Verb: api.KVSet, Key: "a", Value: []byte("1")}}},
		{ops: api.KVTxnOps{{Verb: api.KVSet, Key: "b-side", Value: []byte("x")}, {Verb: api.KVCAS, Key: "b", Value: []byte("new"), Index: 1}}}, // stale
		{ops: api.KVTxnOps{{Verb: api.KVCheckSession, Key: "claim", Session: "00000000-0000-0000-0000-000000000000"}, {Verb: api.KVSet, Key: "c", Value: []byte("3")}}},
		{ops: api.KVTxnOps{{Verb: api.KVCAS, Key: "d", Value: []byte("4"), Index: 0}, {Verb: api.KVDelete, Key: "gone"}, {Verb: api.KVSet, Key: "d-index", Value: []byte("4")}}},
		{ops: api.KVTxnOps{{Verb: api.KVDelete, Key: "nothing"}}},
	}
	for _, u := range units {
		u.ctx, u.done = context.Background(), make(chan Result, 1)
	}
	b.send(append([]*unit(nil), units...)) // send reuses its slice
	got := make([]Result, len(units))
	for i, u := range units {
		select {
		case got[i] = <-u.done:
		default:
			t.Fatalf("unit %d has no answer", i)
		}
		if got[i].Err != nil {
			t.Fatalf("unit %d: %v", i, got[i].Err)
		}
	}
	for _, i := range []int{0, 3, 4} {
		if !got[i].OK {
			t.Errorf("unit %d was refused with another unit's failure: %+v", i, got[i].Errors)
		}
	}
	if len(got[0].Results) != 1 || got[0].Results[0].Key != "a" || len(got[3].Results) != 2 || got[3].Results[1].Key != "d-index" || len(got[4].Results) != 0 {
		t.Errorf("results not shared out by unit: %v, %v, %v", got[0].Results, got[3].Results, got[4].Results)
	}
	for i, wantOp := range map[int]int{1: 1, 2: 0} {
		if got[i].OK || len(got[i].Errors) != 1 || got[i].Errors[0].OpIndex != wantOp {
			t.Errorf("unit %d: ok %v, errors %+v; want refused at its operation %d", i, got[i].OK, got[i].Errors, wantOp)
		}
	}
	for key, want := range map[string]string{"a": "1", "b": "old", "d": "4", "d-index": "4", "b-side": "", "c": ""} {
		p, _, err := kv.Get(key, nil)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case want == "" && p != nil:
			t.Errorf("%s stored by a refused unit: %q", key, p.Value)
		case want != "" && (p == nil || string(p.Value) != want):
			t.Errorf("%s = %v, want %q", key, p, want)
		}
	}
}

// TestConcurrentCallersShareTransactions: many callers at once, one of
// them stale; every other caller's write commits.
func TestConcurrentCallersShareTransactions(t *testing.T) {
	for _, via := range []string{"kv.Txn", "endpoint"} {
		t.Run(via, func(t *testing.T) { concurrentCallersShareTransactions(t, via) })
	}
}

func concurrentCallersShareTransactions(t *testing.T, via string) {
	kv, b := startSender(t, via, Config{Workers: 1}) // one worker: the callers queue, and batches form
	const callers, stale = 100, 37
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	res := make([]Result, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			index := uint64(0)
			if i == stale {
				index = 12345
			}
			res[i] = b.Do(ctx, api.KVTxnOps{{Verb: api.KVCAS, Key: fmt.Sprintf("k/%d", i), Value: []byte("v"), Index: index}})
		}()
	}
	wg.Wait()
	for i, r := range res {
		switch {
		case r.Err != nil:
			t.Fatalf("caller %d: %v", i, r.Err)
		case i == stale && (r.OK || len(r.Errors) != 1 || r.Errors[0].OpIndex != 0):
			t.Errorf("the stale caller: ok %v, errors %+v", r.OK, r.Errors)
		case i != stale && (!r.OK || len(r.Results) != 1 || r.Results[0].Key != fmt.Sprintf("k/%d", i)):
			t.Errorf("caller %d: ok %v, results %v, errors %+v", i, r.OK, r.Results, r.Errors)
		}
	}
	keys, _, err := kv.Keys("k/", "", nil)
	if err != nil || len(keys) != callers-1 {
		t.Fatalf("%d keys stored (%v), want %d", len(keys), err, callers-1)
	}
}

func TestDoRefusesEmptyOversizedAndReadingUnits(t *testing.T) {
	b := New(nil, DefaultConfig())
	defer b.Close()
	for _, n := range []int{0, MaxOps + 1} {
		if r := b.Do(context.Background(), make(api.KVTxnOps, n)); r.Err == nil {
			t.Errorf("a unit of %d operations was accepted", n)
		}
	}
	if r := b.Do(context.Background(), api.KVTxnOps{{Verb: api.KVGetTree, Key: "x/"}}); r.Err == nil {
		t.Error("a unit with a read was accepted")
	}
}
