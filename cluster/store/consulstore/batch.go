package consulstore

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/consul/api"
)

// Writes of many tasks share Consul transactions: under load, each
// transaction carries up to maxBatchOps operations from concurrent callers,
// so one Raft commit (and fsync) serves many task writes. A transaction is
// all-or-nothing, so when one caller's check-and-set fails, that caller
// gets its conflict and the others are sent again without it.
const (
	// maxBatchOps is Consul's limit of operations in one transaction.
	maxBatchOps = 64
	// maxBatchBytes keeps a transaction well under Consul's 512 KiB
	// request limit (txn_max_req_len).
	maxBatchBytes = 256 << 10
	// batchWorkers transactions may be in flight at once, so a slow commit
	// does not stall every writer. Consul's leader appends the transactions
	// waiting together with one fsync, so several in flight cost little;
	// 8 did better than 4 and 16 in the durable throughput benchmark.
	batchWorkers = 8
	// txnTimeout bounds one transaction: a healthy Consul commits in
	// milliseconds; longer means no leader, and callers should hear so.
	txnTimeout = 10 * time.Second
)

// write is one caller's share of a transaction: its operations succeed or
// fail together. The first operation is the check-and-set on the task.
type write struct {
	ctx  context.Context
	ops  api.KVTxnOps
	done chan writeResult
}

type writeResult struct {
	ok    bool   // the check-and-set held
	index uint64 // the task key's new ModifyIndex
	err   error  // Consul could not be reached, or similar
}

type batcher struct {
	kv *api.KV
	g  *gatherer[*write]
}

func newBatcher(kv *api.KV) *batcher {
	b := &batcher{kv: kv}
	b.g = newGatherer(batchWorkers, func(w *write) (int, int) { return len(w.ops), opsSize(w.ops) }, b.send)
	return b
}

// do submits ops as one unit and waits for its outcome.
func (b *batcher) do(ctx context.Context, ops api.KVTxnOps) writeResult {
	w := &write{ctx: ctx, ops: ops, done: make(chan writeResult, 1)}
	if err := b.g.put(ctx, w); err != nil {
		return writeResult{err: err}
	}
	select {
	case r := <-w.done:
		return r
	case <-ctx.Done():
		// The transaction may still commit; the caller treats this like any
		// lost answer and reads again before deciding.
		return writeResult{err: ctx.Err()}
	}
}

func (b *batcher) close() { b.g.close() }

// send commits the batch, dropping writes whose check-and-set fails and
// retrying the rest, until every write has its answer.
func (b *batcher) send(batch []*write) {
	var again []*write
	defer func() {
		for _, w := range again {
			b.send([]*write{w})
		}
	}()
	for len(batch) > 0 {
		live := batch[:0]
		for _, w := range batch {
			if w.ctx.Err() != nil {
				w.done <- writeResult{err: w.ctx.Err()}
				continue
			}
			live = append(live, w)
		}
		batch = live
		if len(batch) == 0 {
			return
		}
		var ops api.KVTxnOps
		owner := make([]int, 0, maxBatchOps) // op index -> write index
		for i, w := range batch {
			ops = append(ops, w.ops...)
			for range w.ops {
				owner = append(owner, i)
			}
		}
		// The transaction serves many callers: no single caller's context
		// may cancel it.
		ctx, cancel := context.WithTimeout(context.Background(), txnTimeout)
		ok, resp, _, err := b.kv.Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
		cancel()
		if err != nil {
			for _, w := range batch {
				w.done <- writeResult{err: err}
			}
			return
		}
		if ok {
			// Results come only from operations that return an entry (set,
			// cas); each write's first operation is its check-and-set.
			at := 0
			for _, w := range batch {
				if !returnsEntry(w.ops[0].Verb) { // a delete: nothing to report
					w.done <- writeResult{ok: true}
					continue
				}
				if at >= len(resp.Results) {
					w.done <- writeResult{err: errors.New("consulstore: transaction answered with too few results")}
					continue
				}
				w.done <- writeResult{ok: true, index: resp.Results[at].ModifyIndex}
				for _, op := range w.ops {
					if returnsEntry(op.Verb) {
						at++
					}
				}
			}
			return
		}
		failed := map[int]bool{}
		for _, e := range resp.Errors {
			if e.OpIndex >= 0 && e.OpIndex < len(owner) {
				failed[owner[e.OpIndex]] = true
			}
		}
		if len(failed) == 0 { // cannot tell whose write failed: fail them one by one
			for _, w := range batch {
				b.send([]*write{w})
			}
			return
		}
		// A write whose key an earlier write of the same batch also touched
		// may have failed only because of that write, which the failed
		// transaction rolled back: it is not a conflict yet. It goes alone,
		// once the rest has committed.
		first := map[string]int{}
		for i, w := range batch {
			for _, op := range w.ops {
				if _, ok := first[op.Key]; !ok {
					first[op.Key] = i
				}
			}
		}
		rest := batch[:0]
		for i, w := range batch {
			switch {
			case failed[i] && touchedBefore(first, w, i):
				again = append(again, w)
			case failed[i]:
				w.done <- writeResult{ok: false}
			default:
				rest = append(rest, w)
			}
		}
		batch = rest
	}
}

func touchedBefore(first map[string]int, w *write, i int) bool {
	for _, op := range w.ops {
		if first[op.Key] < i {
			return true
		}
	}
	return false
}

func opsSize(ops api.KVTxnOps) int {
	n := 0
	for _, op := range ops {
		n += len(op.Key) + len(op.Value) + 64
	}
	return n
}

// returnsEntry reports whether a transaction operation adds an entry to the
// results (deletes and checks add none).
func returnsEntry(verb api.KVOp) bool { return verb == api.KVSet || verb == api.KVCAS }
