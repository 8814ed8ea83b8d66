package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/granary-rt/granary/cluster/store"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// records is a bucket of protobuf records keyed by id, each stored as its
// revision (8 bytes, big endian) and its encoding: the job and schedule
// records. Revisions come from the tasks' sequence, so they grow across the
// whole store like every other revision.
type records[T proto.Message] struct {
	bucket []byte
	what   string // "job", "schedule": for errors
	fresh  func() T
	id     func(T) string
	// index, if set, is a record's entry in the bucket indexBucket (nil:
	// none), written and deleted in the record's own transactions.
	index       func(T) []byte
	indexBucket []byte
}

func (r records[T]) get(s *Store, ctx context.Context, id string) (T, uint64, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, 0, err
	}
	var (
		m   T
		rev uint64
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(r.bucket).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: %s %s", store.ErrNotFound, r.what, id)
		}
		var err error
		m, rev, err = r.decode(v)
		return err
	})
	return m, rev, wrap(err)
}

func (r records[T]) put(s *Store, ctx context.Context, m T, rev uint64) (T, uint64, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, 0, err
	}
	id := r.id(m)
	var next uint64
	var outcome error
	err := s.batch(func(tx *bolt.Tx) error {
		outcome = nil
		b := tx.Bucket(r.bucket)
		var stored uint64
		if v := b.Get([]byte(id)); v != nil {
			if len(v) < 8 {
				return fmt.Errorf("boltstore: corrupt %s record of %d bytes", r.what, len(v))
			}
			stored = binary.BigEndian.Uint64(v)
		}
		if stored != rev {
			outcome = fmt.Errorf("%w: %s %s is at revision %d, not %d", store.ErrConflict, r.what, id, stored, rev)
			return nil
		}
		var err error
		if next, err = tx.Bucket(bucketTasks).NextSequence(); err != nil {
			return err
		}
		body, err := proto.Marshal(m)
		if err != nil {
			return err
		}
		v := make([]byte, 8+len(body))
		binary.BigEndian.PutUint64(v, next)
		copy(v[8:], body)
		if err := b.Put([]byte(id), v); err != nil {
			return err
		}
		return r.putIndex(tx, m)
	})
	if err == nil {
		err = outcome
	}
	if err != nil {
		return zero, 0, wrap(err)
	}
	return proto.Clone(m).(T), next, nil
}

// list calls add with every record, in id order.
func (r records[T]) list(s *Store, ctx context.Context, add func(T, uint64)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(r.bucket).ForEach(func(_, v []byte) error {
			m, rev, err := r.decode(v)
			if err == nil {
				add(m, rev)
			}
			return err
		})
	})
	return wrap(err)
}

func (r records[T]) delete(s *Store, ctx context.Context, id string, rev uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var outcome error
	err := s.batch(func(tx *bolt.Tx) error {
		outcome = nil
		b := tx.Bucket(r.bucket)
		v := b.Get([]byte(id))
		switch {
		case v == nil:
			outcome = fmt.Errorf("%w: %s %s", store.ErrNotFound, r.what, id)
			return nil
		case len(v) < 8:
			return fmt.Errorf("boltstore: corrupt %s record of %d bytes", r.what, len(v))
		case binary.BigEndian.Uint64(v) != rev:
			outcome = fmt.Errorf("%w: %s %s is at revision %d, not %d", store.ErrConflict, r.what, id, binary.BigEndian.Uint64(v), rev)
			return nil
		}
		if r.index != nil {
			m, _, err := r.decode(v)
			if err != nil {
				return err
			}
			if k := r.index(m); k != nil {
				if err := tx.Bucket(r.indexBucket).Delete(k); err != nil {
					return err
				}
			}
		}
		return b.Delete([]byte(id))
	})
	if err == nil {
		err = outcome
	}
	return wrap(err)
}

// putIndex writes m's index entry, if it has one. An entry is written on
// every write of the record, not only its first: a record stored before
// the index existed gets its entry when next written too.
func (r records[T]) putIndex(tx *bolt.Tx, m T) error {
	if r.index == nil {
		return nil
	}
	if k := r.index(m); k != nil {
		return tx.Bucket(r.indexBucket).Put(k, nil)
	}
	return nil
}

func (r records[T]) decode(v []byte) (T, uint64, error) {
	var zero T
	if len(v) < 8 {
		return zero, 0, fmt.Errorf("boltstore: corrupt %s record of %d bytes", r.what, len(v))
	}
	m := r.fresh()
	if err := proto.Unmarshal(v[8:], m); err != nil {
		return zero, 0, fmt.Errorf("boltstore: corrupt %s record: %w", r.what, err)
	}
	return m, binary.BigEndian.Uint64(v), nil
}
