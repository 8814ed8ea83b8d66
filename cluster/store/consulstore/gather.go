package consulstore

import (
	"context"
	"sync"
)

// gatherer hands queued requests to workers in batches, so concurrent
// callers share Consul transactions: a worker takes the first request
// waiting and whatever else is queued, up to maxBatchOps operations and
// maxBatchBytes bytes, and sends them together. Under load the queue fills
// while transactions are in flight, and batches grow with it.
type gatherer[T any] struct {
	queue chan T
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// newGatherer starts workers; weigh tells a request's operations and
// bytes, send handles one batch (and answers its requests).
func newGatherer[T any](workers int, weigh func(T) (ops, bytes int), send func([]T)) *gatherer[T] {
	g := &gatherer[T]{queue: make(chan T, 4*maxBatchOps), stop: make(chan struct{})}
	for i := 0; i < workers; i++ {
		g.wg.Add(1)
		go g.run(weigh, send)
	}
	return g
}

// put queues a request; it fails if ctx ends or the gatherer stops first.
func (g *gatherer[T]) put(ctx context.Context, req T) error {
	select {
	case g.queue <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stop:
		return errStopped
	}
}

// close stops the workers (a batch being sent is finished first).
func (g *gatherer[T]) close() {
	g.once.Do(func() { close(g.stop) })
	g.wg.Wait()
}

func (g *gatherer[T]) run(weigh func(T) (int, int), send func([]T)) {
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
		for ops < maxBatchOps {
			select {
			case req := <-g.queue:
				o, s := weigh(req)
				if ops+o > maxBatchOps || size+s > maxBatchBytes {
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
