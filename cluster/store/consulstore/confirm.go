package consulstore

import (
	"context"
	"fmt"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/proto"
)

var _ store.Confirmer = (*Store)(nil)

// Confirm implements store.Confirmer: it reads the task's key with a
// default (leader) read, which sees every committed write, so a genuine
// push is confirmed at once and a forged one (a revision or a state the
// store never held) is not. It neither consults nor feeds the store's
// memory of what it read, so that Observe of the answer wakes the task's
// waiters.
func (s *Store) Confirm(ctx context.Context, id string, rev uint64) (store.Record, error) {
	if err := s.check(ctx); err != nil {
		return store.Record{}, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	pair, _, err := s.kv.Get(s.taskKey(id), (&api.QueryOptions{}).WithContext(ctx))
	switch {
	case err != nil:
		return store.Record{}, s.wrap(err)
	case pair == nil:
		return store.Record{}, fmt.Errorf("%w: %s", store.ErrNotFound, id)
	case pair.ModifyIndex < rev:
		return store.Record{}, fmt.Errorf("task %s is stored at revision %d, the push claims %d", id, pair.ModifyIndex, rev)
	}
	t := &messages.Task{}
	if err := proto.Unmarshal(pair.Value, t); err != nil {
		return store.Record{}, fmt.Errorf("consulstore: corrupt record %s: %w", pair.Key, err)
	}
	if t.GetSpec().GetId() != id {
		return store.Record{}, fmt.Errorf("consulstore: the record under %s is task %s", id, t.GetSpec().GetId())
	}
	return store.Record{Task: t, Revision: pair.ModifyIndex}, nil
}
