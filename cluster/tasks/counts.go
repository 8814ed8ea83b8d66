package tasks

import (
	"context"
	"fmt"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
)

// TaskCounts counts the stored tasks by kind and state. A store that keeps
// counts with its writes (store.Counter: both of Granary's) answers from
// them, one read whatever the number of tasks; another is scanned.
func (m *Manager) TaskCounts(ctx context.Context) (store.Counts, error) {
	if c, ok := store.CounterOf(m.store); ok {
		n, err := c.Counts(ctx)
		if err != nil {
			return nil, storeErr(err)
		}
		return n, nil
	}
	recs, err := m.store.List(ctx, store.Filter{})
	if err != nil {
		return nil, storeErr(err)
	}
	return store.CountRecords(recs), nil
}

// RebuildTaskCounts makes the store's counts anew from a scan of every
// task (the repair of counts gone wrong: tasks written by members of an
// older version) and returns them; api.ErrFailedPrecondition if the store
// keeps no counts.
func (m *Manager) RebuildTaskCounts(ctx context.Context) (store.Counts, error) {
	c, ok := store.CounterOf(m.store)
	if !ok {
		return nil, fmt.Errorf("%w: the task store keeps no counts", api.ErrFailedPrecondition)
	}
	n, err := c.RebuildCounts(ctx)
	if err != nil {
		return nil, storeErr(err)
	}
	return n, nil
}
