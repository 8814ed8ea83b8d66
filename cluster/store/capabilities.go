package store

import (
	"context"
	"time"
)

// Observer is an optional Store capability: taking the state of a task as
// another member committed it (the owner's hint, or its push to the member
// that submitted the task), so that waiters here need not ask the store
// (consulstore). It makes no round trip.
type Observer interface {
	// Observe records rec as another member committed it.
	Observe(rec Record)
	// Expect says that the owner of task id will push its changes here
	// until the time given, so a Watch waits for that before it asks.
	Expect(id string, until time.Time)
}

// Confirmer is an optional Store capability: reading a task from the store
// itself, bypassing any memory of earlier reads and without feeding it, so
// that a change another member pushed can be checked before Observe hands
// it to waiters (a remembered read would keep Observe from waking them).
// Any member could send a push; only what the store holds is the task's
// state (consulstore).
type Confirmer interface {
	// Confirm returns task id as the store holds it, at revision rev or a
	// later one; an error if it is not stored at rev yet (a forged push, or
	// a read that lags behind).
	Confirm(ctx context.Context, id string, rev uint64) (Record, error)
}

// Capabilities are a store's optional abilities, each nil when the store
// lacks it. They are found once, when the node is assembled
// (CapabilitiesOf), not by a type assertion at each use, so a store
// wrapped by another (metrics.Store counting its calls) keeps them: the
// wrapper reports the abilities of what it wraps (Capable).
type Capabilities struct {
	// Prober answers whether a task is stored (Prober).
	Prober Prober
	// Observer takes records other members push (Observer).
	Observer Observer
	// Health says whether writes land now (Health).
	Health Health
	// Confirmer checks a pushed change against the store (Confirmer).
	Confirmer Confirmer
}

// Capable is a Store that reports its optional abilities itself: a wrapper
// that forwards (or decorates) those of the store it holds.
type Capable interface {
	Capabilities() Capabilities
}

// CapabilitiesOf returns st's optional abilities: those st reports if it
// is Capable, else those it implements.
func CapabilitiesOf(st Store) Capabilities {
	if c, ok := st.(Capable); ok {
		return c.Capabilities()
	}
	var caps Capabilities
	caps.Prober, _ = st.(Prober)
	caps.Observer, _ = st.(Observer)
	caps.Health, _ = st.(Health)
	caps.Confirmer, _ = st.(Confirmer)
	return caps
}
