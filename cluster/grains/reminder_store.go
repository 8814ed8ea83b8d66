package grains

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"time"
)

// ReminderShards is the number of shards of the reminder index. It is
// part of the stored layout (an index entry's key names its shard), so it
// never changes. 32: each shard a member owns holds one blocking query,
// that is one connection to its Consul agent, which takes 200 per client
// address in all (http_max_conns_per_client): a member alone owns all 32,
// and a change re-reads one shard, 1/32 of the reminders, never all.
const ReminderShards = 32

// ReminderShard is the shard of the reminder index that (kind, identity)'s
// reminders are in.
func ReminderShard(kind, identity string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(kind))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(identity))
	return int(h.Sum32() % ReminderShards)
}

// ReminderStore is implemented by state stores that keep an index of the
// grains' reminders by shard, next to their records: the members scan the
// index of the shards they own for due reminders, never the records.
type ReminderStore interface {
	StateStore
	// SaveStateIndexed is SaveState that also applies changes to the
	// identity's entries in the reminder index, in the same write: the
	// index says what the stored record says.
	SaveStateIndexed(ctx context.Context, kind, identity, member string, data []byte, version uint64, changes []IndexChange) (uint64, error)
	// WatchReminders returns the index entries of shard and the index's
	// version. With index not 0 it first waits until the shard changes
	// past index, ctx ends, or a store-chosen time passes (it then
	// returns the entries as they are).
	WatchReminders(ctx context.Context, shard int, index uint64) ([]IndexEntry, uint64, error)
}

// IndexEntry is a reminder in the index: which grain, and when it is due.
type IndexEntry struct {
	Kind, Identity, Name string
	Due                  time.Time
}

// IndexChange sets (Due not zero) or removes a grain's reminder's entry.
type IndexChange struct {
	Name string
	Due  time.Time
}

// localIndex is LocalState's reminder index.
type localIndex struct {
	entries map[int]map[string]IndexEntry // shard -> kind/identity/name -> entry
	version map[int]uint64
	changed chan struct{} // closed and replaced on every change
}

// SaveStateIndexed implements ReminderStore.
func (l *LocalState) SaveStateIndexed(ctx context.Context, kind, identity, member string, data []byte, version uint64, changes []IndexChange) (uint64, error) {
	if l.Directory != nil && l.Directory.holder(kind, identity) != member {
		return 0, fmt.Errorf("%w: %s does not hold %s/%s", ErrStateConflict, member, kind, identity)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	key := kind + "/" + identity
	if cur := l.states[key].version; cur != version {
		return 0, fmt.Errorf("%w: %s is at version %d, not %d", ErrStateConflict, key, cur, version)
	}
	if l.states == nil {
		l.states = map[string]localState{}
	}
	l.version++
	l.states[key] = localState{data: bytes.Clone(data), version: l.version}
	if len(changes) > 0 {
		l.indexLocked(kind, identity, changes)
	}
	return l.version, nil
}

// indexLocked applies changes to the index; the caller holds mu.
func (l *LocalState) indexLocked(kind, identity string, changes []IndexChange) {
	ix := &l.index
	if ix.entries == nil {
		ix.entries, ix.version, ix.changed = map[int]map[string]IndexEntry{}, map[int]uint64{}, make(chan struct{})
	}
	shard := ReminderShard(kind, identity)
	m := ix.entries[shard]
	if m == nil {
		m = map[string]IndexEntry{}
		ix.entries[shard] = m
	}
	for _, c := range changes {
		k := kind + "/" + identity + "/" + c.Name
		if c.Due.IsZero() {
			delete(m, k)
		} else {
			m[k] = IndexEntry{Kind: kind, Identity: identity, Name: c.Name, Due: c.Due}
		}
	}
	ix.version[shard] = l.version
	close(ix.changed)
	ix.changed = make(chan struct{})
}

// WatchReminders implements ReminderStore.
func (l *LocalState) WatchReminders(ctx context.Context, shard int, index uint64) ([]IndexEntry, uint64, error) {
	wait := time.NewTimer(10 * time.Second)
	defer wait.Stop()
	for {
		l.mu.Lock()
		if l.index.changed == nil {
			l.index.entries, l.index.version, l.index.changed = map[int]map[string]IndexEntry{}, map[int]uint64{}, make(chan struct{})
		}
		version, ch := l.index.version[shard]+1, l.index.changed
		if index == 0 || version != index {
			out := make([]IndexEntry, 0, len(l.index.entries[shard]))
			for _, e := range l.index.entries[shard] {
				out = append(out, e)
			}
			l.mu.Unlock()
			sort.Slice(out, func(i, j int) bool { return out[i].Due.Before(out[j].Due) })
			return out, version, nil
		}
		l.mu.Unlock()
		select {
		case <-ch:
		case <-wait.C:
			index = 0
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}
