package grains

import (
	"container/heap"
	"strconv"
	"time"

	"github.com/granary-rt/granary/cluster/placement"
)

// reminderQueue is a member's view of the reminders of the shards it
// owns, ordered by when each is to be fired next. It is a pure decision:
// events and the time go in, firings come out; the scheduler does the I/O.
type reminderQueue struct {
	entries map[string]*queued // kind/identity/name -> entry
	heap    dueHeap
}

type queued struct {
	IndexEntry
	shard  int
	at     time.Time // the next attempt: Due, or later after failed ones
	tries  int       // failed attempts at firing Due
	firing bool
	gen    uint64 // tells the entry's current heap item from stale ones
}

// firing is a reminder to fire: the index entry due at Due.
type firing struct {
	IndexEntry
	Key string
}

func newReminderQueue() *reminderQueue { return &reminderQueue{entries: map[string]*queued{}} }

func reminderKey(kind, identity, name string) string { return kind + "/" + identity + "/" + name }

// set records that the index has e, due at e.Due.
func (q *reminderQueue) set(shard int, e IndexEntry) {
	key := reminderKey(e.Kind, e.Identity, e.Name)
	cur := q.entries[key]
	if cur != nil && cur.Due.Equal(e.Due) {
		return
	}
	if cur == nil {
		cur = &queued{}
		q.entries[key] = cur
	}
	cur.IndexEntry, cur.shard, cur.at, cur.tries = e, shard, e.Due, 0
	q.push(key, cur)
}

func (q *reminderQueue) remove(key string) { delete(q.entries, key) }

// load replaces what the queue holds of shard with the index's entries.
func (q *reminderQueue) load(shard int, entries []IndexEntry) {
	keep := make(map[string]bool, len(entries))
	for _, e := range entries {
		keep[reminderKey(e.Kind, e.Identity, e.Name)] = true
		q.set(shard, e)
	}
	for key, e := range q.entries {
		if e.shard == shard && !keep[key] && !e.firing {
			delete(q.entries, key)
		}
	}
}

// drop forgets the shards for which owned is false.
func (q *reminderQueue) drop(owned func(shard int) bool) {
	for key, e := range q.entries {
		if !owned(e.shard) {
			delete(q.entries, key)
		}
	}
}

// change applies a grain's write to its reminders' index entries.
func (q *reminderQueue) change(kind, identity string, changes []IndexChange) {
	shard := ReminderShard(kind, identity)
	for _, c := range changes {
		if c.Due.IsZero() {
			if e := q.entries[reminderKey(kind, identity, c.Name)]; e != nil && !e.firing {
				q.remove(reminderKey(kind, identity, c.Name))
			}
			continue
		}
		q.set(shard, IndexEntry{Kind: kind, Identity: identity, Name: c.Name, Due: c.Due})
	}
}

// due takes the reminders to fire at now (marking them firing), and says
// when the next one is due (zero: none).
func (q *reminderQueue) due(now time.Time) ([]firing, time.Time) {
	var out []firing
	for q.heap.Len() > 0 {
		top := q.heap[0]
		e := q.entries[top.key]
		if e == nil || e.gen != top.gen || e.firing {
			heap.Pop(&q.heap)
			continue
		}
		if top.at.After(now) {
			return out, top.at
		}
		heap.Pop(&q.heap)
		e.firing = true
		out = append(out, firing{IndexEntry: e.IndexEntry, Key: top.key})
	}
	return out, time.Time{}
}

// fired records a firing's outcome: the reminder's next due time as its
// grain stored it (zero: gone), or err; after an error it is tried again
// after backoff.
func (q *reminderQueue) fired(f firing, next time.Time, err error, now time.Time) {
	e := q.entries[f.Key]
	if e == nil {
		return
	}
	e.firing = false
	switch {
	case !e.Due.Equal(f.Due):
		// The index moved while it fired: its new due time stands.
	case err != nil:
		e.tries++
		e.at = now.Add(fireBackoff(e.tries))
	case next.IsZero():
		delete(q.entries, f.Key)
		return
	default:
		e.Due, e.at, e.tries = next, next, 0
	}
	q.push(f.Key, e)
}

// fireBackoff is the wait before attempt tries+1 at firing a reminder
// whose grain could not be reached: 100ms doubling to 5s, so a grain
// whose member was lost is fired soon after its identity can be claimed
// again (a few seconds), without a dead kind's reminders busying the member.
func fireBackoff(tries int) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < tries && d < 5*time.Second; i++ {
		d *= 2
	}
	return min(d, 5*time.Second)
}

func (q *reminderQueue) push(key string, e *queued) {
	e.gen++
	heap.Push(&q.heap, dueItem{at: e.at, key: key, gen: e.gen})
}

// Len is the number of reminders held.
func (q *reminderQueue) Len() int { return len(q.entries) }

type dueItem struct {
	at  time.Time
	key string
	gen uint64
}

type dueHeap []dueItem

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueItem)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// reminderOwnerKind is the placement kind of the reminder index's shards:
// every member serves reminders, whatever grain kinds it hosts (a firing
// reaches the grain wherever it is placed).
const reminderOwnerKind = "granary.reminders"

// ownedShards are the shards of the reminder index that member serves
// among members, by rendezvous hashing, so a member that leaves hands its
// shards to the survivors evenly, and one that joins takes only its share.
func ownedShards(members []Member, member string) map[int]bool {
	pm := make([]placement.Member, 0, len(members))
	for _, m := range members {
		pm = append(pm, placement.Member{ID: m.ID, Kinds: []string{reminderOwnerKind}})
	}
	out := map[int]bool{}
	for s := 0; s < ReminderShards; s++ {
		if id, ok := placement.Owner(pm, reminderOwnerKind, strconv.Itoa(s)); ok && id == member {
			out[s] = true
		}
	}
	return out
}
