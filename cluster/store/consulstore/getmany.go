package consulstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/granary-rt/granary/cluster/internal/kvtxn"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/hashicorp/consul/api"
)

// readWorkers read-only transactions of one getMany are in flight at once:
// enough to hide a round trip, few enough not to crowd out task writes.
const readWorkers = 4

// getMany reads the tasks with these ids, in the order given, in read-only
// transactions of up to kvtxn.MaxOps reads each (Consul's limit), which
// Consul answers from its state store without Raft. Ids with no task are
// left out. It serves listings from an index (a job's tasks, a member's),
// which would otherwise take a read per task or a scan of every task.
func (s *Store) getMany(ctx context.Context, ids []string) (out []store.Record, err error) {
	err = s.fresh(ctx, func(q *api.QueryOptions) error {
		out, err = s.getManyWith(q, ids)
		return err
	})
	return out, err
}

func (s *Store) getManyWith(q *api.QueryOptions, ids []string) ([]store.Record, error) {
	var chunks [][]string
	for len(ids) > 0 {
		n := min(len(ids), kvtxn.MaxOps)
		chunks, ids = append(chunks, ids[:n]), ids[n:]
	}
	results := make([][]store.Record, len(chunks))
	errs := make([]error, len(chunks))
	sem := make(chan struct{}, readWorkers)
	var wg sync.WaitGroup
	for i, chunk := range chunks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i], errs[i] = s.getChunk(q, chunk)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []store.Record
	for _, r := range results {
		out = append(out, r...)
	}
	return out, nil
}

// getChunk reads up to kvtxn.MaxOps tasks in one transaction. A read of a
// missing key fails the whole transaction, naming it: such ids are dropped
// and the rest read again.
func (s *Store) getChunk(q *api.QueryOptions, ids []string) ([]store.Record, error) {
	for len(ids) > 0 {
		ops := make(api.KVTxnOps, len(ids))
		for i, id := range ids {
			ops[i] = &api.KVTxnOp{Verb: api.KVGet, Key: s.taskKey(id)}
		}
		ok, resp, _, err := s.kv.Txn(ops, q)
		if err != nil {
			return nil, s.wrap(err)
		}
		if ok {
			out := make([]store.Record, 0, len(resp.Results))
			for _, pair := range resp.Results {
				rec, err := s.decode(pair, q.RequireConsistent)
				if err != nil {
					return nil, err
				}
				out = append(out, rec)
			}
			return out, nil
		}
		missing := map[int]bool{}
		if resp != nil {
			for _, e := range resp.Errors {
				if e.OpIndex >= 0 && e.OpIndex < len(ids) {
					missing[e.OpIndex] = true
				}
			}
		}
		if len(missing) == 0 {
			return nil, fmt.Errorf("consulstore: a read of %d tasks failed without naming a missing one: %v", len(ids), txnErrors(resp))
		}
		keep := ids[:0:0]
		for i, id := range ids {
			if !missing[i] {
				keep = append(keep, id)
			}
		}
		ids = keep
	}
	return nil, nil
}

func txnErrors(resp *api.KVTxnResponse) []string {
	if resp == nil {
		return nil
	}
	out := make([]string, 0, len(resp.Errors))
	for _, e := range resp.Errors {
		out = append(out, e.What)
	}
	return out
}
