package grains

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/granary-rt/granary/cluster/grainstate"
)

// The reminder index's contract lives in package cluster/grainstate; these
// are its names as the host uses them.

// ReminderShards is the number of shards of the reminder index
// (grainstate.ReminderShards, part of the stored layout).
const ReminderShards = grainstate.ReminderShards

// ReminderShard is the shard of the reminder index that (kind, identity)'s
// reminders are in (grainstate.ReminderShard).
func ReminderShard(kind, identity string) int { return grainstate.ReminderShard(kind, identity) }

// ReminderStore is a StateStore with a reminder index by shard
// (grainstate.ReminderStore).
type ReminderStore = grainstate.ReminderStore

// IndexEntry is a reminder in the index (grainstate.IndexEntry).
type IndexEntry = grainstate.IndexEntry

// IndexChange sets or removes a grain's reminder's entry
// (grainstate.IndexChange).
type IndexChange = grainstate.IndexChange

// localIndex is LocalState's reminder index.
type localIndex struct {
	entries map[int]map[string]IndexEntry // shard -> kind/identity/name -> entry
	version map[int]uint64
	changed chan struct{} // closed and replaced on every change
}

// SaveStateIndexed implements ReminderStore.
func (l *LocalState) SaveStateIndexed(ctx context.Context, kind, identity, member string, data []byte, version uint64, changes []IndexChange) (uint64, error) {
	if err := grainstate.CheckWrite(kind, identity, data, changes); err != nil {
		return 0, err
	}
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
	if err := grainstate.CheckShard(shard); err != nil {
		return nil, 0, err
	}
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
