package kvtxn

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/hashicorp/consul/api"
)

// sumAmender adds to each transaction a check-and-set of key "sum"
// holding the sum of the units' integer tags, as the task store adds its
// counts; stale makes its next amend use a stale index once.
type sumAmender struct {
	mu       sync.Mutex
	sum      int
	index    uint64
	stale    bool
	outcomes []AmendOutcome
}

func (a *sumAmender) Amend(_ context.Context, tags []any) (*api.KVTxnOp, func(AmendOutcome), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	next := a.sum
	for _, t := range tags {
		if n, ok := t.(int); ok {
			next += n
		}
	}
	index := a.index
	if a.stale {
		index, a.stale = index+1000, false
	}
	op := &api.KVTxnOp{Verb: api.KVCAS, Key: "sum", Value: []byte(strconv.Itoa(next)), Index: index}
	return op, func(o AmendOutcome) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.outcomes = append(a.outcomes, o)
		if o.Committed {
			a.sum, a.index = next, o.Entry.ModifyIndex
		}
	}, nil
}

// TestAmenderAddsOneOperationPerTransaction: units tagged with numbers
// commit with one added check-and-set holding their sum; the units get
// their own results only; a transaction refused for the added operation
// alone goes again, amended anew; a refused unit leaves the sum without
// its tag.
func TestAmenderAddsOneOperationPerTransaction(t *testing.T) {
	am := &sumAmender{}
	kv, b := startSender(t, "kv.Txn", Config{Amender: am})
	am.stale = true // the first transaction is refused for the sum alone
	units := []*unit{
		{ops: api.KVTxnOps{{Verb: api.KVSet, Key: "a", Value: []byte("1")}}, tag: 1},
		{ops: api.KVTxnOps{{Verb: api.KVCAS, Key: "b", Value: []byte("2"), Index: 99}}, tag: 10}, // refused: stale
		{ops: api.KVTxnOps{{Verb: api.KVSet, Key: "c", Value: []byte("3")}}, tag: 100},
		{ops: api.KVTxnOps{{Verb: api.KVDelete, Key: "d"}}},
	}
	for _, u := range units {
		u.ctx, u.done = context.Background(), make(chan Result, 1)
	}
	b.send(append([]*unit(nil), units...))
	for i, u := range units {
		r := <-u.done
		want := i != 1
		if r.OK != want || r.Err != nil {
			t.Errorf("unit %d: OK %v (%v), want %v", i, r.OK, r.Err, want)
		}
		if r.OK && len(r.Results) != len(u.ops)-map[bool]int{true: 1}[u.ops[0].Verb == api.KVDelete] {
			t.Errorf("unit %d: %d results, want its own only", i, len(r.Results))
		}
	}
	pair, _, err := kv.Get("sum", nil)
	if err != nil || pair == nil || string(pair.Value) != "101" {
		t.Fatalf("sum = %v (%v), want 101: the committed units' tags", pair, err)
	}
	var refused, committed int
	for _, o := range am.outcomes {
		if o.Refused {
			refused++
		}
		if o.Committed {
			committed++
		}
	}
	if refused < 1 || committed != 1 {
		t.Fatalf("outcomes %+v; want the sum refused once at least, then committed once", am.outcomes)
	}
	if r := b.DoTagged(context.Background(), api.KVTxnOps{{Verb: api.KVSet, Key: "e", Value: []byte("5")}}, 1000); !r.OK || len(r.Results) != 1 {
		t.Fatalf("DoTagged = %+v", r)
	}
	if pair, _, _ := kv.Get("sum", nil); pair == nil || string(pair.Value) != "1101" {
		t.Fatalf("sum after DoTagged = %v, want 1101", pair)
	}
	if r := b.Do(context.Background(), make(api.KVTxnOps, MaxOps)); r.Err == nil {
		t.Fatal("a unit of MaxOps operations was taken with an Amender (no room for its operation)")
	}
}
