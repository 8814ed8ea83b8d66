package consulstore

import (
	"context"
	"errors"

	"github.com/granary-rt/granary/cluster/internal/kvtxn"
	"github.com/hashicorp/consul/api"
)

// Existence checks of many callers share one read-only Consul transaction
// of check-not-exists operations, which Consul answers from its state store
// without Raft: a failed check is a task that exists. probeWorkers
// transactions may be in flight at once; reads are cheap, and two keep one
// slow answer from holding up the next batch.
const probeWorkers = 2

type probe struct {
	ctx   context.Context
	key   string
	found chan probeResult
}

type probeResult struct {
	exists bool
	err    error
}

type prober struct {
	kv *api.KV
	g  *kvtxn.Gatherer[*probe]
}

func newProber(kv *api.KV) *prober {
	p := &prober{kv: kv}
	p.g = kvtxn.NewGatherer(probeWorkers, func(q *probe) (int, int) { return 1, len(q.key) + 64 }, p.send)
	return p
}

func (p *prober) exists(ctx context.Context, key string) (bool, error) {
	q := &probe{ctx: ctx, key: key, found: make(chan probeResult, 1)}
	if err := p.g.Put(ctx, q); err != nil {
		return false, err
	}
	select {
	case r := <-q.found:
		return r.exists, r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (p *prober) close() { p.g.Close() }

func (p *prober) send(batch []*probe) {
	live := batch[:0]
	for _, q := range batch {
		if q.ctx.Err() != nil {
			q.found <- probeResult{err: q.ctx.Err()}
			continue
		}
		live = append(live, q)
	}
	if len(live) == 0 {
		return
	}
	ops := make(api.KVTxnOps, len(live))
	for i, q := range live {
		ops[i] = &api.KVTxnOp{Verb: api.KVCheckNotExists, Key: q.key}
	}
	ctx, cancel := context.WithTimeout(context.Background(), kvtxn.DefaultConfig().Timeout)
	ok, resp, _, err := p.kv.Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
	cancel()
	if err == nil && !ok && resp == nil {
		err = errors.New("consulstore: existence check answered without errors")
	}
	exists := make([]bool, len(live))
	if err == nil && !ok {
		for _, e := range resp.Errors {
			if e.OpIndex >= 0 && e.OpIndex < len(live) {
				exists[e.OpIndex] = true
			}
		}
	}
	for i, q := range live {
		q.found <- probeResult{exists: exists[i], err: err}
	}
}
