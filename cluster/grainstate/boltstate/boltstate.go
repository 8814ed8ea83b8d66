// Package boltstate keeps grains' durable state and their reminder index
// in a bbolt file (grainstate.ReminderStore): the store of granary dev,
// one member, in the file its task store (cluster/store/boltstore) keeps,
// sharing its transactions.
//
// Layout (stored; it never changes, so a data directory of the previous
// release opens with this one):
//
//	bucket grainstate:        kind \x00 identity -> version (8 bytes, big endian) + record
//	bucket reminders:         shard (2 bytes, big endian) + kind \x00 identity \x00 name -> due (Unix ns, 8 bytes)
//	bucket reminderversions:  shard (2 bytes) -> the shard's version (8 bytes), grown by each change
//
//	tasks, _ := boltstore.Open(boltstore.DefaultConfig(path))
//	st := boltstate.New(tasks)
//	v, err := st.SaveState(ctx, "counter", "alice", "dev", record, version)
package boltstate

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/granary-rt/granary/cluster/grainstate"
	bolt "go.etcd.io/bbolt"
)

// File is the bbolt file the state lives in, with the transactions of
// the store that owns it (boltstore.Store is one): ViewTx reads, BatchTx
// writes in a shared transaction (group commit; its function may run
// more than once), UpdateTx writes in one of its own.
type File interface {
	ViewTx(fn func(*bolt.Tx) error) error
	BatchTx(fn func(*bolt.Tx) error) error
	UpdateTx(fn func(*bolt.Tx) error) error
}

// Store implements grainstate.ReminderStore in a bbolt file. It serves one
// member, whose directory is in its memory, so there is no claim to check:
// a write checks its version only.
type Store struct{ f File }

var _ grainstate.ReminderStore = (*Store)(nil)

// New returns the grain state store kept in f.
func New(f File) *Store { return &Store{f: f} }

// bucketGrainState holds durable grain state: kind \x00 identity ->
// version (8 bytes, big endian) + state.
var bucketGrainState = []byte("grainstate")

func grainKey(kind, identity string) []byte { return []byte(kind + "\x00" + identity) }

// LoadState implements grainstate.Store.
func (s *Store) LoadState(ctx context.Context, kind, identity string) ([]byte, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if err := grainstate.CheckGrain(kind, identity); err != nil {
		return nil, 0, err
	}
	var data []byte
	var version uint64
	err := s.f.ViewTx(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketGrainState)
		if b == nil {
			return nil
		}
		if v := b.Get(grainKey(kind, identity)); len(v) >= 8 {
			version = binary.BigEndian.Uint64(v)
			data = append([]byte(nil), v[8:]...)
		}
		return nil
	})
	return data, version, err
}

// SaveState implements grainstate.Store: it stores a grain's state if the
// stored version is still version (0: none stored).
func (s *Store) SaveState(ctx context.Context, kind, identity, member string, data []byte, version uint64) (uint64, error) {
	return s.SaveStateIndexed(ctx, kind, identity, member, data, version, nil)
}

// saveState is SaveState, running more in the same transaction.
func (s *Store) saveState(ctx context.Context, kind, identity string, data []byte, version uint64, more func(*bolt.Tx) error) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var next uint64
	var outcome error // kept out of the function's error (File.BatchTx)
	err := s.f.BatchTx(func(tx *bolt.Tx) error {
		outcome = nil
		b, err := tx.CreateBucketIfNotExists(bucketGrainState)
		if err != nil {
			return err
		}
		key := grainKey(kind, identity)
		var cur uint64
		if v := b.Get(key); len(v) >= 8 {
			cur = binary.BigEndian.Uint64(v)
		}
		if cur != version {
			outcome = fmt.Errorf("%w: grain state %s/%s is at version %d, not %d", grainstate.ErrStateConflict, kind, identity, cur, version)
			return nil
		}
		if next, err = b.NextSequence(); err != nil {
			return err
		}
		v := make([]byte, 8+len(data))
		binary.BigEndian.PutUint64(v, next)
		copy(v[8:], data)
		if err := b.Put(key, v); err != nil {
			return err
		}
		if more != nil {
			return more(tx)
		}
		return nil
	})
	if err == nil {
		err = outcome
	}
	if err != nil {
		return 0, err
	}
	return next, nil
}

// DeleteState implements grainstate.Store: the grain's state and its
// reminder index entries, in one transaction.
func (s *Store) DeleteState(ctx context.Context, kind, identity string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := grainstate.CheckGrain(kind, identity); err != nil {
		return err
	}
	return s.f.UpdateTx(func(tx *bolt.Tx) error {
		if err := deleteReminders(tx, kind, identity); err != nil {
			return err
		}
		b := tx.Bucket(bucketGrainState)
		if b == nil {
			return nil
		}
		return b.Delete(grainKey(kind, identity))
	})
}
