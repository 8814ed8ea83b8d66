package grains

import (
	"container/list"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// table is the router's activations by kind/identity, in order of last
// use, so that under pressure the least recently used go first. It is
// the router's alone (no lock); every operation is O(1) but evictable,
// which walks from the least recently used end.
type table struct {
	byKey  map[string]*list.Element // kind/identity -> element of lru
	lru    list.List                // of *tableEntry, most recently used first
	pinned int                      // entries pinned
}

type tableEntry struct {
	key  string
	pid  *actor.PID
	used time.Time
	// pinned entries (singletons) are never evicted.
	pinned bool
}

func newTable() *table {
	t := &table{byKey: map[string]*list.Element{}}
	t.lru.Init()
	return t
}

// len is the number of activations.
func (t *table) len() int { return len(t.byKey) }

// unpinned is the number of activations that may be evicted.
func (t *table) unpinned() int { return len(t.byKey) - t.pinned }

// get returns key's activation.
func (t *table) get(key string) (*actor.PID, bool) {
	if e, ok := t.byKey[key]; ok {
		return e.Value.(*tableEntry).pid, true
	}
	return nil, false
}

// touch marks key used at now.
func (t *table) touch(key string, now time.Time) {
	if e, ok := t.byKey[key]; ok {
		e.Value.(*tableEntry).used = now
		t.lru.MoveToFront(e)
	}
}

// add records key's activation pid, used at now.
func (t *table) add(key string, pid *actor.PID, now time.Time, pinned bool) {
	t.remove(key)
	t.byKey[key] = t.lru.PushFront(&tableEntry{key: key, pid: pid, used: now, pinned: pinned})
	if pinned {
		t.pinned++
	}
}

// remove forgets key's activation.
func (t *table) remove(key string) {
	if e, ok := t.byKey[key]; ok {
		if e.Value.(*tableEntry).pinned {
			t.pinned--
		}
		t.lru.Remove(e)
		delete(t.byKey, key)
	}
}

// removeIf forgets key's activation if it is pid.
func (t *table) removeIf(key string, pid *actor.PID) bool {
	if got, ok := t.get(key); ok && samePID(got, pid) {
		t.remove(key)
		return true
	}
	return false
}

// each calls f for every activation, in no particular order.
func (t *table) each(f func(key string, pid *actor.PID)) {
	for key, e := range t.byKey {
		f(key, e.Value.(*tableEntry).pid)
	}
}

// evictable returns up to n of the least recently used activations, not
// pinned, unused since before idleSince, least recently used first.
func (t *table) evictable(n int, idleSince time.Time) []*tableEntry {
	var out []*tableEntry
	for e := t.lru.Back(); e != nil && len(out) < n; e = e.Prev() {
		te := e.Value.(*tableEntry)
		if te.pinned {
			continue
		}
		if !te.used.Before(idleSince) {
			break // the rest were used later still
		}
		out = append(out, te)
	}
	return out
}
