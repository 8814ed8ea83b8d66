package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	bolt "go.etcd.io/bbolt"
)

// bucketCounts counts the tasks by kind and state: kind \x00 state (4
// bytes, big endian) -> count (8 bytes, big endian). Every write of a task
// changes it in its own transaction (put, Delete), so the counts are
// always those of the tasks beside them; reading them reads a few keys
// whatever the number of tasks. A database from before it gets it filled
// when opened (Open).
var bucketCounts = []byte("counts")

var _ store.Counter = (*Store)(nil)

// countKey is the key of kind's count in state.
func countKey(kind string, st messages.TaskState) []byte {
	k := make([]byte, len(kind)+5)
	copy(k, kind)
	binary.BigEndian.PutUint32(k[len(kind)+1:], uint32(st))
	return k
}

// addCounts applies d to the counts in tx.
func addCounts(tx *bolt.Tx, d store.Counts) error {
	b := tx.Bucket(bucketCounts)
	for kind, m := range d {
		for st, n := range m {
			k := countKey(kind, st)
			var cur int64
			if v := b.Get(k); len(v) == 8 {
				cur = int64(binary.BigEndian.Uint64(v))
			}
			if cur+n <= 0 {
				if err := b.Delete(k); err != nil {
					return err
				}
				continue
			}
			v := make([]byte, 8)
			binary.BigEndian.PutUint64(v, uint64(cur+n))
			if err := b.Put(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// readCounts reads the counts in tx.
func readCounts(tx *bolt.Tx) (store.Counts, error) {
	out := store.Counts{}
	err := tx.Bucket(bucketCounts).ForEach(func(k, v []byte) error {
		i := len(k) - 5 // the kind's end: kinds may not hold \x00 bytes, states do
		if i < 0 || k[i] != 0 || len(v) != 8 {
			return fmt.Errorf("boltstore: corrupt count %q", k)
		}
		out.Add(string(k[:i]), messages.TaskState(binary.BigEndian.Uint32(k[i+1:])), int64(binary.BigEndian.Uint64(v)))
		return nil
	})
	return out, err
}

// countAll makes the counts bucket anew from every stored task.
func countAll(tx *bolt.Tx) error {
	if tx.Bucket(bucketCounts) != nil {
		if err := tx.DeleteBucket(bucketCounts); err != nil {
			return err
		}
	}
	if _, err := tx.CreateBucket(bucketCounts); err != nil {
		return err
	}
	all := store.Counts{}
	err := tx.Bucket(bucketTasks).ForEach(func(_, v []byte) error {
		rec, err := decode(v)
		if err != nil {
			return err
		}
		all.Add(rec.Task.GetSpec().GetKind(), rec.Task.GetStatus().GetState(), 1)
		return nil
	})
	if err != nil {
		return err
	}
	return addCounts(tx, all)
}

// Counts implements store.Counter: one read transaction over the counts.
func (s *Store) Counts(ctx context.Context) (store.Counts, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out store.Counts
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = readCounts(tx)
		return err
	})
	return out, wrap(err)
}

// RebuildCounts implements store.Counter: in one write transaction, so no
// write of a task falls between the scan and the new counts.
func (s *Store) RebuildCounts(ctx context.Context) (store.Counts, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out store.Counts
	err := s.update(func(tx *bolt.Tx) error {
		if err := countAll(tx); err != nil {
			return err
		}
		var err error
		out, err = readCounts(tx)
		return err
	})
	return out, err
}
