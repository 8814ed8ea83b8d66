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
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.taskKey(id)
	}
	pairs, err := s.readMany(q, keys)
	if err != nil {
		return nil, err
	}
	out := make([]store.Record, 0, len(pairs))
	for _, pair := range pairs {
		rec, err := s.decode(pair, q.RequireConsistent)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// readMany reads these keys, in the order given, in read-only
// transactions of up to kvtxn.MaxOps reads each, readWorkers at once.
// Missing keys are left out.
func (s *Store) readMany(q *api.QueryOptions, keys []string) ([]*api.KVPair, error) {
	var chunks [][]string
	for len(keys) > 0 {
		n := min(len(keys), kvtxn.MaxOps)
		chunks, keys = append(chunks, keys[:n]), keys[n:]
	}
	results := make([][]*api.KVPair, len(chunks))
	errs := make([]error, len(chunks))
	sem := make(chan struct{}, readWorkers)
	var wg sync.WaitGroup
	for i, chunk := range chunks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i], errs[i] = s.readChunk(q, chunk)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []*api.KVPair
	for _, r := range results {
		out = append(out, r...)
	}
	return out, nil
}

// readChunk reads up to kvtxn.MaxOps keys in one transaction. A read of a
// missing key fails the whole transaction, naming it: such keys are
// dropped and the rest read again.
func (s *Store) readChunk(q *api.QueryOptions, keys []string) ([]*api.KVPair, error) {
	for len(keys) > 0 {
		ops := make(api.KVTxnOps, len(keys))
		for i, k := range keys {
			ops[i] = &api.KVTxnOp{Verb: api.KVGet, Key: k}
		}
		ok, resp, _, err := s.kv.Txn(ops, q)
		if err != nil {
			return nil, s.wrap(err)
		}
		if ok {
			return resp.Results, nil
		}
		missing := map[int]bool{}
		if resp != nil {
			for _, e := range resp.Errors {
				if e.OpIndex >= 0 && e.OpIndex < len(keys) {
					missing[e.OpIndex] = true
				}
			}
		}
		if len(missing) == 0 {
			return nil, fmt.Errorf("consulstore: a read of %d keys failed without naming a missing one: %v", len(keys), txnErrors(resp))
		}
		keep := keys[:0:0]
		for i, k := range keys {
			if !missing[i] {
				keep = append(keep, k)
			}
		}
		keys = keep
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
