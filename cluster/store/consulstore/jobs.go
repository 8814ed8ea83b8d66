package consulstore

import (
	"context"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
)

// Job records live under granary/<cluster>/jobs/<id> (records.go), each
// with a parent indexed under its parent's jobkids/ (jobkids.go).
var jobRecords = records[*messages.Job]{
	dir:   "jobs/",
	what:  "job",
	fresh: func() *messages.Job { return &messages.Job{} },
	id:    (*messages.Job).GetId,
	index: childJobEntry,
}

// GetJob implements store.Store.
func (s *Store) GetJob(ctx context.Context, id string) (store.JobRecord, error) {
	j, rev, err := jobRecords.get(s, ctx, id)
	return store.JobRecord{Job: j, Revision: rev}, err
}

// PutJob implements store.Store.
func (s *Store) PutJob(ctx context.Context, j *messages.Job, rev uint64) (store.JobRecord, error) {
	j, next, err := jobRecords.put(s, ctx, j, rev)
	return store.JobRecord{Job: j, Revision: next}, err
}

// ListJobs implements store.Store.
func (s *Store) ListJobs(ctx context.Context) ([]store.JobRecord, error) {
	out := []store.JobRecord{}
	err := jobRecords.list(s, ctx, func(j *messages.Job, rev uint64) { out = append(out, store.JobRecord{Job: j, Revision: rev}) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteJob implements store.Store.
func (s *Store) DeleteJob(ctx context.Context, id string, rev uint64) error {
	return jobRecords.delete(s, ctx, id, rev)
}
