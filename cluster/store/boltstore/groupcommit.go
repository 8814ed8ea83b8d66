package boltstore

// Group commit: one goroutine (the committer) owns the store's shared
// write transactions. A write sends it a function and waits for the
// answer; the committer takes every write that queued while its previous
// transaction was being fsynced (up to Config.MaxBatch) and runs them all in
// one transaction, one fsync for all. There is no timer: a lone write on an
// idle store commits at once, and a busy store fills each transaction with
// the writes that arrived during the last fsync.
//
// bbolt's own Batch does the same behind a timer (MaxBatchDelay), which a
// write waits out before its transaction even begins; here a write waits
// only for the commit under way (docs/benchmarks-history.md, "Group commit", has the figures).
//
// Each write keeps its own answer: a function reports an outcome such as a
// check-and-set conflict through its own variables, not its error. A
// function that returns an error fails alone: the transaction is rolled
// back, that function is answered its error, and the others run again, in
// the same order, in a new transaction. So a function may run more than
// once and must reset what it reports each time it runs.

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/granary-rt/granary/cluster/store"
	bolt "go.etcd.io/bbolt"
)

// writeRequest is one write waiting for the committer.
type writeRequest struct {
	fn   func(*bolt.Tx) error
	done chan error // buffered: the committer never waits for the writer
}

// committer runs writes in shared transactions (see above).
type committer struct {
	db      *bolt.DB
	max     int
	kick    chan struct{} // buffered 1: a write is queued, or close was called
	stopped chan struct{}

	mu     sync.Mutex
	queue  []writeRequest // in arrival order
	closed bool

	// commits counts the transactions committed, so tests can tell that
	// writes shared them.
	commits atomic.Uint64
}

func startCommitter(db *bolt.DB, max int) *committer {
	c := &committer{db: db, max: max, kick: make(chan struct{}, 1), stopped: make(chan struct{})}
	go c.run()
	return c
}

// do runs fn in a shared transaction and returns once that transaction is
// committed (fsynced) or fn's error.
func (c *committer) do(fn func(*bolt.Tx) error) error {
	r := writeRequest{fn: fn, done: make(chan error, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("%w: boltstore is closed", store.ErrClosed)
	}
	c.queue = append(c.queue, r)
	c.mu.Unlock()
	c.wake()
	return <-r.done
}

func (c *committer) wake() {
	select {
	case c.kick <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// close refuses new writes, waits until those queued are answered, and
// stops the committer. Call it once.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wake()
	<-c.stopped
}

// waiting is the number of writes queued for the next transaction.
func (c *committer) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

func (c *committer) run() {
	defer close(c.stopped)
	var batch []writeRequest
	for {
		var closed bool
		batch, closed = c.take(batch[:0])
		switch {
		case len(batch) > 0:
			c.commit(batch)
		case closed:
			return
		default:
			<-c.kick
		}
	}
}

// take moves up to c.max queued writes, oldest first, to batch.
func (c *committer) take(batch []writeRequest) ([]writeRequest, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(len(c.queue), c.max)
	batch = append(batch, c.queue[:n]...)
	rest := copy(c.queue, c.queue[n:])
	clear(c.queue[rest:]) // let answered writes be collected
	c.queue = c.queue[:rest]
	return batch, c.closed
}

// commit runs batch in one transaction, taking out each function that
// fails (answered its own error) and running the rest again, and answers
// the others the commit's outcome.
func (c *committer) commit(batch []writeRequest) {
	for len(batch) > 0 {
		failed, failure := -1, error(nil)
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, r := range batch {
				if err := call(r.fn, tx); err != nil {
					failed, failure = i, err
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			batch[failed].done <- failure
			batch = append(batch[:failed], batch[failed+1:]...)
			continue
		}
		if err == nil {
			c.commits.Add(1)
		}
		for _, r := range batch {
			r.done <- err
		}
		return
	}
}

// call runs fn, turning a panic into fn's error so that one write cannot
// take the committer, and every write after it, down.
func call(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("boltstore: write panicked: %v", p)
		}
	}()
	return fn(tx)
}
