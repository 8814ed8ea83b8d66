package boltstate

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/grainstate"
	bolt "go.etcd.io/bbolt"
)

// The reminder index of granary dev: bucketReminders holds shard (2
// bytes, big endian) + kind \x00 identity \x00 name -> due time (Unix
// nanoseconds, 8 bytes), written in the transaction that stores the
// grain's state; bucketReminderVersions holds each shard's version, which
// grows with each change to it, so a watch compares one key, never the
// shard's entries.
var (
	bucketReminders        = []byte("reminders")
	bucketReminderVersions = []byte("reminderversions")
)

// reminderPoll is how often WatchReminders looks at a shard's version.
// The store serves one member, whose own writes reach its scheduler at
// once (grains.Host tells it); the poll only backs that up.
const reminderPoll = time.Second

func shardKey(shard int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(shard)) }

func grainReminderPrefix(kind, identity string) []byte {
	return append(shardKey(grainstate.ReminderShard(kind, identity)), kind+"\x00"+identity+"\x00"...)
}

// SaveStateIndexed implements grainstate.ReminderStore.
func (s *Store) SaveStateIndexed(ctx context.Context, kind, identity, _ string, data []byte, version uint64, changes []grainstate.IndexChange) (uint64, error) {
	if err := grainstate.CheckWrite(kind, identity, data, changes); err != nil {
		return 0, err
	}
	if len(changes) == 0 {
		return s.saveState(ctx, kind, identity, data, version, nil)
	}
	return s.saveState(ctx, kind, identity, data, version, func(tx *bolt.Tx) error {
		return indexReminders(tx, kind, identity, changes)
	})
}

// indexReminders applies changes to the grain's index entries and bumps
// the shard's version.
func indexReminders(tx *bolt.Tx, kind, identity string, changes []grainstate.IndexChange) error {
	b, err := tx.CreateBucketIfNotExists(bucketReminders)
	if err != nil {
		return err
	}
	vb, err := tx.CreateBucketIfNotExists(bucketReminderVersions)
	if err != nil {
		return err
	}
	prefix := grainReminderPrefix(kind, identity)
	for _, c := range changes {
		key := append(bytes.Clone(prefix), c.Name...)
		if c.Due.IsZero() {
			err = b.Delete(key)
		} else {
			err = b.Put(key, binary.BigEndian.AppendUint64(nil, uint64(c.Due.UnixNano())))
		}
		if err != nil {
			return err
		}
	}
	sk := shardKey(grainstate.ReminderShard(kind, identity))
	var v uint64
	if cur := vb.Get(sk); len(cur) == 8 {
		v = binary.BigEndian.Uint64(cur)
	}
	return vb.Put(sk, binary.BigEndian.AppendUint64(nil, v+1))
}

// deleteReminders removes the grain's index entries.
func deleteReminders(tx *bolt.Tx, kind, identity string) error {
	b := tx.Bucket(bucketReminders)
	if b == nil {
		return nil
	}
	prefix := grainReminderPrefix(kind, identity)
	var gone []grainstate.IndexChange
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		gone = append(gone, grainstate.IndexChange{Name: string(k[len(prefix):])})
	}
	if len(gone) == 0 {
		return nil
	}
	return indexReminders(tx, kind, identity, gone)
}

// WatchReminders implements grainstate.ReminderStore.
func (s *Store) WatchReminders(ctx context.Context, shard int, index uint64) ([]grainstate.IndexEntry, uint64, error) {
	if err := grainstate.CheckShard(shard); err != nil {
		return nil, 0, err
	}
	poll := time.NewTicker(reminderPoll)
	defer poll.Stop()
	wait := time.NewTimer(30 * time.Second)
	defer wait.Stop()
	for {
		var out []grainstate.IndexEntry
		var version uint64
		err := s.f.ViewTx(func(tx *bolt.Tx) error {
			if vb := tx.Bucket(bucketReminderVersions); vb != nil {
				if v := vb.Get(shardKey(shard)); len(v) == 8 {
					version = binary.BigEndian.Uint64(v)
				}
			}
			version++ // 0 asks for the entries at once
			if version == index {
				return nil
			}
			b := tx.Bucket(bucketReminders)
			if b == nil {
				return nil
			}
			prefix := shardKey(shard)
			c := b.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				parts := strings.SplitN(string(k[len(prefix):]), "\x00", 3)
				if len(parts) != 3 || len(v) != 8 {
					continue
				}
				out = append(out, grainstate.IndexEntry{Kind: parts[0], Identity: parts[1], Name: parts[2], Due: time.Unix(0, int64(binary.BigEndian.Uint64(v)))})
			}
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
		if version != index {
			return out, version, nil
		}
		select {
		case <-poll.C:
		case <-wait.C:
			return nil, index, nil
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}
