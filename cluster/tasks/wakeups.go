package tasks

import (
	"container/heap"
	"time"
)

// wakeups is the one timer structure of a member's tasks: a min-heap of
// when each waiting task is due (its backoff over, its start_at reached),
// owned by the root actor (root_idle.go), which arms one time.Timer for
// the earliest. A task holds no timer of its own, and a task that only
// waits holds no actor either: the heap keeps what is needed to wake it.
//
// It is a plain data structure, with no clock and no lock: the root actor
// passes the time in, so tests drive it with any clock.
type wakeups struct {
	h    wakeHeap
	byID map[string]*wakeEntry
	seq  uint64
}

// wakeEntry is one task's wake-up.
type wakeEntry struct {
	id string
	at int64 // unix nanoseconds
	// seq orders entries due at the same instant: first armed, first due.
	seq uint64
	// after is the task's attempt count when the timer was armed: a
	// wake-up of an earlier attempt is stale (timerDue).
	after int32
	index int
}

// wake is a due wake-up as wakeups.due hands it out.
type wake struct {
	id    string
	after int
}

// set arms (or re-arms) id's wake-up for at, after attempt after.
func (w *wakeups) set(id string, at time.Time, after int) {
	w.seq++
	if e, ok := w.byID[id]; ok {
		e.at, e.seq, e.after = at.UnixNano(), w.seq, int32(after)
		heap.Fix(&w.h, e.index)
		return
	}
	if w.byID == nil {
		w.byID = map[string]*wakeEntry{}
	}
	e := &wakeEntry{id: id, at: at.UnixNano(), seq: w.seq, after: int32(after)}
	w.byID[id] = e
	heap.Push(&w.h, e)
}

// cancel removes id's wake-up, if armed; it reports whether it was.
func (w *wakeups) cancel(id string) bool {
	e, ok := w.byID[id]
	if !ok {
		return false
	}
	heap.Remove(&w.h, e.index)
	delete(w.byID, id)
	return true
}

// armed reports whether id has a wake-up, and when.
func (w *wakeups) armed(id string) (time.Time, bool) {
	e, ok := w.byID[id]
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, e.at), true
}

// next is the earliest wake-up's time; false if none is armed.
func (w *wakeups) next() (time.Time, bool) {
	if len(w.h) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, w.h[0].at), true
}

// due removes and returns the wake-ups due at now, earliest first (those
// due at one instant in the order they were armed).
func (w *wakeups) due(now time.Time) []wake {
	var out []wake
	for n := now.UnixNano(); len(w.h) > 0 && w.h[0].at <= n; {
		e := heap.Pop(&w.h).(*wakeEntry)
		delete(w.byID, e.id)
		out = append(out, wake{id: e.id, after: int(e.after)})
	}
	return out
}

// len is the number of armed wake-ups.
func (w *wakeups) len() int { return len(w.h) }

// wakeHeap implements heap.Interface over the entries, by (at, seq).
type wakeHeap []*wakeEntry

func (h wakeHeap) Len() int { return len(h) }

func (h wakeHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}

func (h wakeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *wakeHeap) Push(x any) {
	e := x.(*wakeEntry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *wakeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}
