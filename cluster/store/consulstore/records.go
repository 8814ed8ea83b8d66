package consulstore

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/proto"
)

// records are protobuf records under granary/<cluster>/<dir>/<id>, one KV
// entry each, written with check-and-set on their ModifyIndex: the job and
// schedule records. They are rare and off the task hot path, so they are
// written with their own transactions rather than the batcher.
type records[T proto.Message] struct {
	dir   string // "jobs/", "schedules/"
	what  string // "job", "schedule": for errors
	fresh func() T
	id    func(T) string
	// index, if set, is a record's index entry (an empty key; "": none),
	// written and deleted in the record's own transactions.
	index func(*Store, T) string
}

// indexKey is m's index entry, "" if it has none.
func (r records[T]) indexKey(s *Store, m T) string {
	if r.index == nil {
		return ""
	}
	return r.index(s, m)
}

func (r records[T]) key(s *Store, id string) string { return s.prefix + r.dir + url.PathEscape(id) }

func (r records[T]) get(s *Store, ctx context.Context, id string) (T, uint64, error) {
	var zero T
	if err := s.check(ctx); err != nil {
		return zero, 0, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	pair, _, err := s.kv.Get(r.key(s, id), s.readOptions(ctx, false))
	if err != nil {
		return zero, 0, s.wrap(err)
	}
	if pair == nil {
		return zero, 0, fmt.Errorf("%w: %s %s", store.ErrNotFound, r.what, id)
	}
	return r.decode(pair)
}

func (r records[T]) put(s *Store, ctx context.Context, m T, rev uint64) (T, uint64, error) {
	var zero T
	if err := s.check(ctx); err != nil {
		return zero, 0, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	body, err := proto.Marshal(m)
	if err == nil {
		body, err = packRecord(body)
	}
	if err != nil {
		return zero, 0, err
	}
	ops := api.KVTxnOps{{Verb: api.KVCAS, Key: r.key(s, r.id(m)), Value: body, Index: rev}}
	// The entry goes with every write, not only the first: a record stored
	// before its index existed gets its entry when next written too.
	if k := r.indexKey(s, m); k != "" {
		ops = append(ops, &api.KVTxnOp{Verb: api.KVSet, Key: k})
	}
	ok, resp, _, err := s.kv.Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return zero, 0, s.wrap(err)
	}
	if !ok || resp == nil || len(resp.Results) == 0 {
		return zero, 0, fmt.Errorf("%w: %s %s changed since revision %d", store.ErrConflict, r.what, r.id(m), rev)
	}
	return proto.Clone(m).(T), resp.Results[0].ModifyIndex, nil
}

// list calls add with every record, in id order.
func (r records[T]) list(s *Store, ctx context.Context, add func(T, uint64)) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	pairs, _, err := s.kv.List(s.prefix+r.dir, s.readOptions(ctx, false))
	if err != nil {
		return s.wrap(err)
	}
	for _, p := range pairs {
		if strings.Contains(strings.TrimPrefix(p.Key, s.prefix+r.dir), "/") {
			continue // not one of these records
		}
		m, rev, err := r.decode(p)
		if err != nil {
			return err
		}
		add(m, rev)
	}
	return nil
}

func (r records[T]) delete(s *Store, ctx context.Context, id string, rev uint64) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// Consul's delete-CAS succeeds on a missing key: read first, so a
	// deleted record is ErrNotFound.
	m, cur, err := r.get(s, ctx, id)
	if err != nil {
		return err
	}
	if cur != rev {
		return fmt.Errorf("%w: %s %s is at revision %d, not %d", store.ErrConflict, r.what, id, cur, rev)
	}
	ops := api.KVTxnOps{{Verb: api.KVDeleteCAS, Key: r.key(s, id), Index: rev}}
	if k := r.indexKey(s, m); k != "" {
		ops = append(ops, &api.KVTxnOp{Verb: api.KVDelete, Key: k})
	}
	ok, _, _, err := s.kv.Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return s.wrap(err)
	}
	if ok {
		return nil
	}
	return fmt.Errorf("%w: %s %s changed since revision %d", store.ErrConflict, r.what, id, rev)
}

func (r records[T]) decode(pair *api.KVPair) (T, uint64, error) {
	var zero T
	m := r.fresh()
	body, err := unpackRecord(pair.Value)
	if err == nil {
		err = proto.Unmarshal(body, m)
	}
	if err != nil {
		return zero, 0, fmt.Errorf("consulstore: corrupt %s record %s: %w", r.what, pair.Key, err)
	}
	return m, pair.ModifyIndex, nil
}
