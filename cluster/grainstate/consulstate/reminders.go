package consulstate

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/grainstate"
	"github.com/hashicorp/consul/api"
)

// The reminder index: one key per reminder,
// granary/<cluster>/reminders/<shard>/<kind>/<identity>/<name>, whose
// value is its due time (Unix nanoseconds), written in the transaction
// that stores the grain's record. A member lists only the shards it owns,
// with one blocking query each.

// reminderShardPrefix is the KV prefix of a shard of the index.
func (s *Store) reminderShardPrefix(shard int) string {
	return fmt.Sprintf("%s%02d/", s.reminderPrefix, shard)
}

// grainRemindersPrefix is the KV prefix of a grain's index entries.
func (s *Store) grainRemindersPrefix(kind, identity string) string {
	return s.reminderShardPrefix(grainstate.ReminderShard(kind, identity)) + kind + "/" + url.PathEscape(identity) + "/"
}

// SaveStateIndexed implements grainstate.ReminderStore: SaveState's
// transaction, with the index changes in it.
func (s *Store) SaveStateIndexed(ctx context.Context, kind, identity, _ string, data []byte, version uint64, changes []grainstate.IndexChange) (uint64, error) {
	if err := grainstate.CheckWrite(kind, identity, data, changes); err != nil {
		return 0, err
	}
	ops := make(api.KVTxnOps, 0, 2+len(changes))
	prefix := s.grainRemindersPrefix(kind, identity)
	for _, c := range changes {
		key := prefix + url.PathEscape(c.Name)
		if c.Due.IsZero() {
			ops = append(ops, &api.KVTxnOp{Verb: api.KVDelete, Key: key})
		} else {
			ops = append(ops, &api.KVTxnOp{Verb: api.KVSet, Key: key, Value: []byte(strconv.FormatInt(c.Due.UnixNano(), 10))})
		}
	}
	return s.saveState(ctx, kind, identity, data, version, ops)
}

// WatchReminders implements grainstate.ReminderStore with a blocking query
// on the shard's prefix (30s at most, then the entries as they are).
//
// Every shard holds an anchor key, written once: Consul answers a
// blocking query on a prefix with no keys at the index of the whole KV
// store, so a watch of an empty shard would wake at every write in the
// cluster (measured: 64 such watches per member made each task cost
// Consul 2.5 times the CPU, and halved durable throughput). With the
// anchor, a shard's index moves only when the shard changes.
func (s *Store) WatchReminders(ctx context.Context, shard int, index uint64) ([]grainstate.IndexEntry, uint64, error) {
	if err := grainstate.CheckShard(shard); err != nil {
		return nil, 0, err
	}
	prefix := s.reminderShardPrefix(shard)
	if index == 0 {
		if err := s.anchor(ctx, prefix); err != nil {
			return nil, 0, err
		}
	}
	pairs, meta, err := s.watchKV.List(prefix, (&api.QueryOptions{WaitIndex: index, WaitTime: 30 * time.Second}).WithContext(ctx))
	if err != nil {
		return nil, 0, fmt.Errorf("consulstate: listing the reminders of shard %d: %w", shard, err)
	}
	next := meta.LastIndex
	if next < index || next == 0 {
		next = 1 // Consul's index went back (restart): start over, per its docs
	}
	out := make([]grainstate.IndexEntry, 0, len(pairs))
	for _, p := range pairs {
		parts := strings.Split(strings.TrimPrefix(p.Key, prefix), "/")
		due, err := strconv.ParseInt(string(p.Value), 10, 64)
		if len(parts) != 3 || err != nil {
			continue // not an entry this version writes
		}
		identity, err1 := url.PathUnescape(parts[1])
		name, err2 := url.PathUnescape(parts[2])
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, grainstate.IndexEntry{Kind: parts[0], Identity: identity, Name: name, Due: time.Unix(0, due)})
	}
	return out, next, nil
}

// anchorKey is the key that keeps a shard's prefix from ever being
// empty; no reminder key has this form (kind/identity/name).
const anchorKey = "anchor"

// anchor writes the shard's anchor key unless it exists (check-and-set
// on index 0, so members starting together write it once).
func (s *Store) anchor(ctx context.Context, prefix string) error {
	if _, _, err := s.kv.CAS(&api.KVPair{Key: prefix + anchorKey, Value: []byte("reminder shard")}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("consulstate: anchoring the reminder shard %s: %w", prefix, err)
	}
	return nil
}
