package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	bolt "go.etcd.io/bbolt"
)

// bucketJobKids indexes the jobs that have a parent: childKey(parent,
// child) -> nothing, written and deleted with the child's record, so a
// job's children are found without reading every job record. A database
// from before it gets it filled when opened (Open, indexChildJobs), in the
// transaction that creates it: the bucket's existence says the index is
// complete.
var bucketJobKids = []byte("jobkids")

// jobRecords are the job supervision records: job id -> revision + Job.
var jobRecords = records[*messages.Job]{
	bucket:      bucketJobs,
	what:        "job",
	fresh:       func() *messages.Job { return &messages.Job{} },
	id:          (*messages.Job).GetId,
	index:       childEntry,
	indexBucket: bucketJobKids,
}

// childEntry is j's entry in bucketJobKids, nil for a root job. A job's
// parent, once set, does not change (a declared job is not declared
// otherwise), so the entry of its first write with a parent stays right;
// ListChildJobs checks each record's parent all the same.
func childEntry(j *messages.Job) []byte {
	if j.GetParent() == "" {
		return nil
	}
	return append(childPrefix(j.GetParent()), j.GetId()...)
}

// childPrefix starts the entries of parent's children: the parent's
// length, then the parent, so that no parent's prefix is another's.
func childPrefix(parent string) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(parent))), parent...)
}

// indexChildJobs creates bucketJobKids with an entry for every stored job
// that has a parent.
func indexChildJobs(tx *bolt.Tx) error {
	kids, err := tx.CreateBucket(bucketJobKids)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketJobs).ForEach(func(_, v []byte) error {
		j, _, err := jobRecords.decode(v)
		if err != nil {
			return err
		}
		if k := childEntry(j); k != nil {
			return kids.Put(k, nil)
		}
		return nil
	})
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

// ListChildJobs implements store.Store: it walks parent's entries in
// bucketJobKids (in child id order) and reads each child's record.
func (s *Store) ListChildJobs(ctx context.Context, parent string) ([]store.JobRecord, error) {
	if err := ctx.Err(); err != nil || parent == "" {
		return nil, err
	}
	var out []store.JobRecord
	prefix := childPrefix(parent)
	err := s.db.View(func(tx *bolt.Tx) error {
		jobs, c := tx.Bucket(bucketJobs), tx.Bucket(bucketJobKids).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			v := jobs.Get(k[len(prefix):])
			if v == nil {
				continue
			}
			j, rev, err := jobRecords.decode(v)
			if err != nil {
				return err
			}
			if j.GetParent() == parent {
				out = append(out, store.JobRecord{Job: j, Revision: rev})
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap(err)
	}
	return out, nil
}

// DeleteJob implements store.Store.
func (s *Store) DeleteJob(ctx context.Context, id string, rev uint64) error {
	return jobRecords.delete(s, ctx, id, rev)
}
