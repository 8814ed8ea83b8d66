package consulstore

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/proto"
)

// Job records live under granary/<cluster>/jobs/<id>, one KV entry each,
// written with check-and-set on their ModifyIndex. They are rare (one per
// job that restarted or failed with a budget) and off the task hot path, so
// they are written with their own transactions rather than the batcher.

func (s *Store) jobKey(id string) string { return s.prefix + "jobs/" + url.PathEscape(id) }

// GetJob implements store.Store.
func (s *Store) GetJob(ctx context.Context, id string) (store.JobRecord, error) {
	if err := s.check(ctx); err != nil {
		return store.JobRecord{}, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	pair, _, err := s.kv.Get(s.jobKey(id), s.readOptions(ctx, false))
	if err != nil {
		return store.JobRecord{}, s.wrap(err)
	}
	if pair == nil {
		return store.JobRecord{}, fmt.Errorf("%w: job %s", store.ErrNotFound, id)
	}
	return decodeJob(pair)
}

// PutJob implements store.Store.
func (s *Store) PutJob(ctx context.Context, j *messages.Job, rev uint64) (store.JobRecord, error) {
	if err := s.check(ctx); err != nil {
		return store.JobRecord{}, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	body, err := proto.Marshal(j)
	if err != nil {
		return store.JobRecord{}, err
	}
	ops := api.KVTxnOps{{Verb: api.KVCAS, Key: s.jobKey(j.GetId()), Value: body, Index: rev}}
	ok, resp, _, err := s.kv.Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return store.JobRecord{}, s.wrap(err)
	}
	if !ok || resp == nil || len(resp.Results) == 0 {
		return store.JobRecord{}, fmt.Errorf("%w: job %s changed since revision %d", store.ErrConflict, j.GetId(), rev)
	}
	return store.JobRecord{Job: proto.Clone(j).(*messages.Job), Revision: resp.Results[0].ModifyIndex}, nil
}

// ListJobs implements store.Store.
func (s *Store) ListJobs(ctx context.Context) ([]store.JobRecord, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	pairs, _, err := s.kv.List(s.prefix+"jobs/", s.readOptions(ctx, false))
	if err != nil {
		return nil, s.wrap(err)
	}
	out := make([]store.JobRecord, 0, len(pairs))
	for _, p := range pairs {
		if strings.Contains(strings.TrimPrefix(p.Key, s.prefix+"jobs/"), "/") {
			continue // not a job record
		}
		rec, err := decodeJob(p)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// DeleteJob implements store.Store.
func (s *Store) DeleteJob(ctx context.Context, id string, rev uint64) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// Consul's delete-CAS succeeds on a missing key: read first, so a
	// deleted record is ErrNotFound.
	cur, err := s.GetJob(ctx, id)
	if err != nil {
		return err
	}
	if cur.Revision != rev {
		return fmt.Errorf("%w: job %s is at revision %d, not %d", store.ErrConflict, id, cur.Revision, rev)
	}
	ok, _, err := s.kv.DeleteCAS(&api.KVPair{Key: s.jobKey(id), ModifyIndex: rev}, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return s.wrap(err)
	}
	if ok {
		return nil
	}
	return fmt.Errorf("%w: job %s changed since revision %d", store.ErrConflict, id, rev)
}

func decodeJob(pair *api.KVPair) (store.JobRecord, error) {
	j := &messages.Job{}
	if err := proto.Unmarshal(pair.Value, j); err != nil {
		return store.JobRecord{}, fmt.Errorf("consulstore: corrupt job record %s: %w", pair.Key, err)
	}
	return store.JobRecord{Job: j, Revision: pair.ModifyIndex}, nil
}
