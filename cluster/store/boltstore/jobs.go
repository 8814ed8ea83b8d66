package boltstore

import (
	"context"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
)

// jobRecords are the job supervision records: job id -> revision + Job.
var jobRecords = records[*messages.Job]{
	bucket: bucketJobs,
	what:   "job",
	fresh:  func() *messages.Job { return &messages.Job{} },
	id:     (*messages.Job).GetId,
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
	var out []store.JobRecord
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
