package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// GetJob implements store.Store.
func (s *Store) GetJob(ctx context.Context, id string) (store.JobRecord, error) {
	if err := ctx.Err(); err != nil {
		return store.JobRecord{}, err
	}
	var rec store.JobRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketJobs).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: job %s", store.ErrNotFound, id)
		}
		var err error
		rec, err = decodeJob(v)
		return err
	})
	return rec, wrap(err)
}

// PutJob implements store.Store.
func (s *Store) PutJob(ctx context.Context, j *messages.Job, rev uint64) (store.JobRecord, error) {
	if err := ctx.Err(); err != nil {
		return store.JobRecord{}, err
	}
	id := j.GetId()
	var rec store.JobRecord
	var outcome error
	err := s.batch(func(tx *bolt.Tx) error {
		outcome = nil
		jobs := tx.Bucket(bucketJobs)
		var stored uint64
		if v := jobs.Get([]byte(id)); v != nil {
			old, err := decodeJob(v)
			if err != nil {
				return err
			}
			stored = old.Revision
		}
		if stored != rev {
			outcome = fmt.Errorf("%w: job %s is at revision %d, not %d", store.ErrConflict, id, stored, rev)
			return nil
		}
		// Job revisions come from the tasks' sequence, so they grow across
		// the whole store like every other revision.
		next, err := tx.Bucket(bucketTasks).NextSequence()
		if err != nil {
			return err
		}
		body, err := proto.Marshal(j)
		if err != nil {
			return err
		}
		v := make([]byte, 8+len(body))
		binary.BigEndian.PutUint64(v, next)
		copy(v[8:], body)
		rec = store.JobRecord{Job: proto.Clone(j).(*messages.Job), Revision: next}
		return jobs.Put([]byte(id), v)
	})
	if err == nil {
		err = outcome
	}
	if err != nil {
		return store.JobRecord{}, wrap(err)
	}
	return rec, nil
}

// ListJobs implements store.Store.
func (s *Store) ListJobs(ctx context.Context) ([]store.JobRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.JobRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(_, v []byte) error {
			rec, err := decodeJob(v)
			if err == nil {
				out = append(out, rec)
			}
			return err
		})
	})
	return out, wrap(err)
}

// DeleteJob implements store.Store.
func (s *Store) DeleteJob(ctx context.Context, id string, rev uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var outcome error
	err := s.batch(func(tx *bolt.Tx) error {
		outcome = nil
		jobs := tx.Bucket(bucketJobs)
		v := jobs.Get([]byte(id))
		if v == nil {
			outcome = fmt.Errorf("%w: job %s", store.ErrNotFound, id)
			return nil
		}
		old, err := decodeJob(v)
		if err != nil {
			return err
		}
		if old.Revision != rev {
			outcome = fmt.Errorf("%w: job %s is at revision %d, not %d", store.ErrConflict, id, old.Revision, rev)
			return nil
		}
		return jobs.Delete([]byte(id))
	})
	if err == nil {
		err = outcome
	}
	return wrap(err)
}

func decodeJob(v []byte) (store.JobRecord, error) {
	if len(v) < 8 {
		return store.JobRecord{}, fmt.Errorf("boltstore: corrupt job record of %d bytes", len(v))
	}
	j := &messages.Job{}
	if err := proto.Unmarshal(v[8:], j); err != nil {
		return store.JobRecord{}, fmt.Errorf("boltstore: corrupt job record: %w", err)
	}
	return store.JobRecord{Job: j, Revision: binary.BigEndian.Uint64(v)}, nil
}
