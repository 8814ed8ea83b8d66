package store

import (
	"context"
	"maps"

	"github.com/granary-rt/granary/messages"
)

// Counts holds numbers of tasks by kind, then by state. A missing entry is
// zero. The counts a store keeps are never negative; a delta's may be.
type Counts map[string]map[messages.TaskState]int64

// Counter is an optional Store capability: the number of stored tasks per
// kind and state, kept with the writes (in the same transaction as the
// task's own write), so that reading them costs the same at a million
// tasks as at ten. GET /v1/tasks:stats and the console read them.
type Counter interface {
	// Counts returns the counts as of one moment. A store whose counts
	// were never made (tasks written before it kept them) makes them
	// first, from one scan of every task.
	Counts(ctx context.Context) (Counts, error)
	// RebuildCounts makes the counts anew from one scan of every task and
	// returns them: the repair of counts that went wrong (tasks written by
	// a member of an older version, which kept none).
	RebuildCounts(ctx context.Context) (Counts, error)
}

// Add adds n tasks of kind in state.
func (c Counts) Add(kind string, st messages.TaskState, n int64) {
	if n == 0 {
		return
	}
	m := c[kind]
	if m == nil {
		m = map[messages.TaskState]int64{}
		c[kind] = m
	}
	if m[st] += n; m[st] == 0 {
		delete(m, st)
		if len(m) == 0 {
			delete(c, kind)
		}
	}
}

// Merge adds every count of o to c.
func (c Counts) Merge(o Counts) {
	for kind, m := range o {
		for st, n := range m {
			c.Add(kind, st, n)
		}
	}
}

// Total is the sum of every count.
func (c Counts) Total() int64 {
	var n int64
	for _, m := range c {
		for _, k := range m {
			n += k
		}
	}
	return n
}

// Equal reports whether c and o hold the same counts (zeros and missing
// entries alike).
func (c Counts) Equal(o Counts) bool {
	d := Counts{}
	d.Merge(c)
	for kind, m := range o {
		for st, n := range m {
			d.Add(kind, st, -n)
		}
	}
	return len(d) == 0
}

// Clone returns a copy of c.
func (c Counts) Clone() Counts {
	out := make(Counts, len(c))
	for kind, m := range c {
		out[kind] = maps.Clone(m)
	}
	return out
}

// CountRecords counts recs: what a store's counts must equal.
func CountRecords(recs []Record) Counts {
	c := Counts{}
	for _, r := range recs {
		c.Add(r.Task.GetSpec().GetKind(), r.Task.GetStatus().GetState(), 1)
	}
	return c
}

// CountDelta is the change of the counts when a task changes from old to
// next: old nil when it is created, next nil when it is deleted. A write
// that keeps the task's state (a heartbeat, progress) changes nothing: the
// delta is empty and a store skips its counter.
func CountDelta(old, next *messages.Task) Counts {
	d := Counts{}
	if old != nil {
		d.Add(old.GetSpec().GetKind(), old.GetStatus().GetState(), -1)
	}
	if next != nil {
		d.Add(next.GetSpec().GetKind(), next.GetStatus().GetState(), 1)
	}
	return d
}

// Unwrapper is a Store that wraps another (one that counts and times its
// calls, say) and gives it back, so that the optional abilities it does
// not pass on are still found (CounterOf).
type Unwrapper interface {
	Unwrap() Store
}

// CounterOf finds the Counter of s, or of a store s wraps.
func CounterOf(s Store) (Counter, bool) {
	for s != nil {
		if c, ok := s.(Counter); ok {
			return c, true
		}
		u, ok := s.(Unwrapper)
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}
