package consulstore

import (
	"context"
	"errors"
	"sync"

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
	kv    *api.KV
	queue chan *probe
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

func newProber(kv *api.KV) *prober {
	p := &prober{kv: kv, queue: make(chan *probe, 4*maxBatchOps), stop: make(chan struct{})}
	for i := 0; i < probeWorkers; i++ {
		p.wg.Add(1)
		go p.run()
	}
	return p
}

func (p *prober) exists(ctx context.Context, key string) (bool, error) {
	q := &probe{ctx: ctx, key: key, found: make(chan probeResult, 1)}
	select {
	case p.queue <- q:
	case <-ctx.Done():
		return false, ctx.Err()
	case <-p.stop:
		return false, errStopped
	}
	select {
	case r := <-q.found:
		return r.exists, r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (p *prober) close() {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
}

func (p *prober) run() {
	defer p.wg.Done()
	for {
		var first *probe
		select {
		case first = <-p.queue:
		case <-p.stop:
			return
		}
		batch := []*probe{first}
	fill:
		for len(batch) < maxBatchOps {
			select {
			case q := <-p.queue:
				batch = append(batch, q)
			default:
				break fill
			}
		}
		p.send(batch)
	}
}

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
	ctx, cancel := context.WithTimeout(context.Background(), txnTimeout)
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
