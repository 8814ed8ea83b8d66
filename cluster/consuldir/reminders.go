package consuldir

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/grains"
	"github.com/hashicorp/consul/api"
)

// The reminder index: one key per reminder,
// granary/<cluster>/reminders/<shard>/<kind>/<identity>/<name>, whose
// value is its due time (Unix nanoseconds), written in the transaction
// that stores the grain's record. A member lists only the shards it owns,
// with one blocking query each.

// reminderShardPrefix is the KV prefix of a shard of the index.
func (d *Directory) reminderShardPrefix(shard int) string {
	return fmt.Sprintf("%s%02d/", d.reminderPrefix, shard)
}

// grainRemindersPrefix is the KV prefix of a grain's index entries.
func (d *Directory) grainRemindersPrefix(kind, identity string) string {
	return d.reminderShardPrefix(grains.ReminderShard(kind, identity)) + kind + "/" + url.PathEscape(identity) + "/"
}

// SaveStateIndexed implements grains.ReminderStore: SaveState's
// transaction, with the index changes in it.
func (d *Directory) SaveStateIndexed(ctx context.Context, kind, identity, _ string, data []byte, version uint64, changes []grains.IndexChange) (uint64, error) {
	ops := make(api.KVTxnOps, 0, 2+len(changes))
	prefix := d.grainRemindersPrefix(kind, identity)
	for _, c := range changes {
		key := prefix + url.PathEscape(c.Name)
		if c.Due.IsZero() {
			ops = append(ops, &api.KVTxnOp{Verb: api.KVDelete, Key: key})
		} else {
			ops = append(ops, &api.KVTxnOp{Verb: api.KVSet, Key: key, Value: []byte(strconv.FormatInt(c.Due.UnixNano(), 10))})
		}
	}
	return d.saveState(ctx, kind, identity, data, version, ops)
}

// WatchReminders implements grains.ReminderStore with a blocking query
// on the shard's prefix (30s at most, then the entries as they are).
//
// Every shard holds an anchor key, written once: Consul answers a
// blocking query on a prefix with no keys at the index of the whole KV
// store, so a watch of an empty shard would wake at every write in the
// cluster (measured: 64 such watches per member made each task cost
// Consul 2.5 times the CPU, and halved durable throughput). With the
// anchor, a shard's index moves only when the shard changes.
func (d *Directory) WatchReminders(ctx context.Context, shard int, index uint64) ([]grains.IndexEntry, uint64, error) {
	prefix := d.reminderShardPrefix(shard)
	if index == 0 {
		if err := d.anchor(ctx, prefix); err != nil {
			return nil, 0, err
		}
	}
	pairs, meta, err := d.watchKV.List(prefix, (&api.QueryOptions{WaitIndex: index, WaitTime: 30 * time.Second}).WithContext(ctx))
	if err != nil {
		return nil, 0, fmt.Errorf("consuldir: listing the reminders of shard %d: %w", shard, err)
	}
	next := meta.LastIndex
	if next < index || next == 0 {
		next = 1 // Consul's index went back (restart): start over, per its docs
	}
	out := make([]grains.IndexEntry, 0, len(pairs))
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
		out = append(out, grains.IndexEntry{Kind: parts[0], Identity: identity, Name: name, Due: time.Unix(0, due)})
	}
	return out, next, nil
}

// anchorKey is the key that keeps a shard's prefix from ever being
// empty; no reminder key has this form (kind/identity/name).
const anchorKey = "anchor"

// anchor writes the shard's anchor key unless it exists (check-and-set
// on index 0, so members starting together write it once).
func (d *Directory) anchor(ctx context.Context, prefix string) error {
	if _, _, err := d.kv.CAS(&api.KVPair{Key: prefix + anchorKey, Value: []byte("reminder shard")}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("consuldir: anchoring the reminder shard %s: %w", prefix, err)
	}
	return nil
}

var _ grains.ReminderStore = (*Directory)(nil)

// errConflict is a refused transaction's error.
func errConflict(kind, identity string, version uint64, errs []*api.TxnError) error {
	var why []string
	for _, e := range errs {
		why = append(why, e.What)
	}
	return fmt.Errorf("%w: the claim on %s/%s is no longer this member's, or its state changed since version %d (%s)",
		grains.ErrStateConflict, kind, identity, version, strings.Join(why, "; "))
}
