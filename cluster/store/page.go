package store

import (
	"container/heap"
	"slices"
	"time"

	"github.com/granary-rt/granary/messages"
)

// Order is the order List returns tasks in.
type Order int

const (
	// ByID orders tasks by id, ascending.
	ByID Order = iota
	// NewestFirst orders tasks by submission time, latest first, and
	// tasks submitted at the same time by id.
	NewestFirst
	// OldestFirst orders tasks by submission time, earliest first, and
	// tasks submitted at the same time by id: with Filter.SubmittedBefore,
	// the retention sweep's order (the tasks that can be due first).
	OldestFirst
)

// Position is where a task stands in an order: what a page's cursor holds.
type Position struct {
	SubmittedAt time.Time
	ID          string
}

// PositionOf is t's position.
func PositionOf(t *messages.Task) Position {
	return Position{SubmittedAt: t.GetStatus().GetSubmittedAt().AsTime(), ID: t.GetSpec().GetId()}
}

// Before reports whether a comes before b in o.
func (o Order) Before(a, b Position) bool {
	if o == NewestFirst && !a.SubmittedAt.Equal(b.SubmittedAt) {
		return a.SubmittedAt.After(b.SubmittedAt)
	}
	if o == OldestFirst && !a.SubmittedAt.Equal(b.SubmittedAt) {
		return a.SubmittedAt.Before(b.SubmittedAt)
	}
	return a.ID < b.ID
}

// Page keeps the first Limit records, in Order, of those a store offers it
// while it scans: a listing of a few from many holds only those few (a
// heap of Limit records), whatever order the store reads in.
type Page struct {
	order Order
	limit int
	recs  pageHeap
}

// NewPage returns a page of f's order and limit (0: every record).
func NewPage(f Filter) *Page {
	return &Page{order: f.Order, limit: f.Limit, recs: pageHeap{order: f.Order}}
}

// Offer adds rec if it is among the first Limit so far. The caller has
// checked it with Filter.Match.
func (p *Page) Offer(rec Record) {
	if p.limit <= 0 || p.recs.Len() < p.limit {
		heap.Push(&p.recs, rec)
		return
	}
	if p.order.Before(PositionOf(rec.Task), PositionOf(p.recs.recs[0].Task)) {
		p.recs.recs[0] = rec
		heap.Fix(&p.recs, 0)
	}
}

// Full reports whether the page holds Limit records: a store reading in
// the page's order can stop.
func (p *Page) Full() bool { return p.limit > 0 && p.recs.Len() >= p.limit }

// Records returns the page's records in order.
func (p *Page) Records() []Record {
	out := p.recs.recs
	slices.SortFunc(out, func(a, b Record) int {
		if p.order.Before(PositionOf(a.Task), PositionOf(b.Task)) {
			return -1
		}
		return 1
	})
	return out
}

// pageHeap is a max-heap in order: its top is the last record kept, the
// first to go when a record that comes before it is offered.
type pageHeap struct {
	order Order
	recs  []Record
}

func (h pageHeap) Len() int { return len(h.recs) }
func (h pageHeap) Less(i, j int) bool {
	return h.order.Before(PositionOf(h.recs[j].Task), PositionOf(h.recs[i].Task))
}
func (h pageHeap) Swap(i, j int) { h.recs[i], h.recs[j] = h.recs[j], h.recs[i] }
func (h *pageHeap) Push(x any)   { h.recs = append(h.recs, x.(Record)) }
func (h *pageHeap) Pop() any {
	last := h.recs[len(h.recs)-1]
	h.recs = h.recs[:len(h.recs)-1]
	return last
}
