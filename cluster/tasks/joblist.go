package tasks

import (
	"context"

	"github.com/granary-rt/granary/cluster/store"
)

// Jobs returns every job's supervision record (strategy, budget, restarts,
// whether it failed), ordered by id: one read of the store's job records,
// for listing jobs (GET /v1/jobs).
func (m *Manager) Jobs(ctx context.Context) ([]store.JobRecord, error) {
	recs, err := m.store.ListJobs(ctx)
	if err != nil {
		return nil, storeErr(err)
	}
	return recs, nil
}
