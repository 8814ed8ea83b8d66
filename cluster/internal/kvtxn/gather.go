package kvtxn

import (
	"context"
	"sync"
)

// Gatherer hands queued requests to workers in batches, so concurrent
// callers share Consul transactions: a worker takes the first request
// waiting and whatever else is queued, up to MaxOps operations and
// MaxBytes bytes, and sends them together. Under load the queue fills
// while transactions are in flight, and batches grow with it.
type Gatherer[T any] struct {
	maxOps int // in one batch
	queue  chan T
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// NewGatherer starts workers; weigh tells a request's operations and
// bytes, send handles one batch (and answers its requests). Close stops
// them.
func NewGatherer[T any](workers int, weigh func(T) (ops, bytes int), send func([]T)) *Gatherer[T] {
	return newGatherer(workers, MaxOps, weigh, send)
}

// newGatherer is NewGatherer with batches of at most maxOps operations.
func newGatherer[T any](workers, maxOps int, weigh func(T) (ops, bytes int), send func([]T)) *Gatherer[T] {
	g := &Gatherer[T]{maxOps: maxOps, queue: make(chan T, 4*MaxOps), stop: make(chan struct{})}
	for i := 0; i < workers; i++ {
		g.wg.Add(1)
		go g.run(weigh, send)
	}
	return g
}

// Put queues a request; it fails if ctx ends or the gatherer stops first
// (ErrClosed).
func (g *Gatherer[T]) Put(ctx context.Context, req T) error {
	select {
	case g.queue <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stop:
		return ErrClosed
	}
}

// Close stops the workers (a batch being sent is finished first); it is
// safe to call twice.
func (g *Gatherer[T]) Close() {
	g.once.Do(func() { close(g.stop) })
	g.wg.Wait()
}

func (g *Gatherer[T]) run(weigh func(T) (int, int), send func([]T)) {
	defer g.wg.Done()
	for {
		var first T
		select {
		case first = <-g.queue:
		case <-g.stop:
			return
		}
		batch := []T{first}
		ops, size := weigh(first)
	fill:
		for ops < g.maxOps {
			select {
			case req := <-g.queue:
				o, s := weigh(req)
				if ops+o > g.maxOps || size+s > MaxBytes {
					send(batch)
					batch, ops, size = []T{req}, o, s
					continue
				}
				batch = append(batch, req)
				ops, size = ops+o, size+s
			default:
				break fill
			}
		}
		send(batch)
	}
}
