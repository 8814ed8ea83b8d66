package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/granary-rt/granary/cluster/grains"
	bolt "go.etcd.io/bbolt"
)

// bucketGrainState holds durable grain state: kind \x00 identity ->
// version (8 bytes, big endian) + state.
var bucketGrainState = []byte("grainstate")

func grainKey(kind, identity string) []byte { return []byte(kind + "\x00" + identity) }

// LoadState returns a grain's stored state and its version (nil, 0: none).
func (s *Store) LoadState(ctx context.Context, kind, identity string) ([]byte, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	var data []byte
	var version uint64
	err := s.db.View(func(tx *bolt.Tx) error {
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
	return data, version, wrap(err)
}

// SaveState stores a grain's state if the stored version is still
// version (0: none stored). This store serves one member (granary dev),
// whose directory is in its memory, so there is no claim to check.
func (s *Store) SaveState(ctx context.Context, kind, identity, _ string, data []byte, version uint64) (uint64, error) {
	return s.saveState(ctx, kind, identity, data, version, nil)
}

// saveState is SaveState, running more in the same transaction.
func (s *Store) saveState(ctx context.Context, kind, identity string, data []byte, version uint64, more func(*bolt.Tx) error) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var next uint64
	var outcome error // kept out of the function's error (groupcommit.go)
	err := s.batch(func(tx *bolt.Tx) error {
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
			outcome = fmt.Errorf("%w: grain state %s/%s is at version %d, not %d", grains.ErrStateConflict, kind, identity, cur, version)
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
		return 0, wrap(err)
	}
	return next, nil
}

// DeleteState removes a grain's stored state.
func (s *Store) DeleteState(ctx context.Context, kind, identity string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrap(s.update(func(tx *bolt.Tx) error {
		if err := deleteReminders(tx, kind, identity); err != nil {
			return err
		}
		b := tx.Bucket(bucketGrainState)
		if b == nil {
			return nil
		}
		return b.Delete(grainKey(kind, identity))
	}))
}
