package grains

import (
	"sync"
	"time"
)

// warmDispatcher runs the mailboxes of a member's grain router and
// activations as protoactor's default dispatcher does, each run on a
// goroutine of its own that never waits for another run, but on
// goroutines that linger after a run to take the next one.
//
// A new goroutine starts on a small stack and grows it, copying it each
// time, in the first deep call of its run: for an activation, decoding a
// typed request or the handler itself. With the default dispatcher every
// run of every mailbox is a new goroutine, and under grain-call load that
// growth (runtime.newstack under the mailbox's processMessages) was 7-15%
// of a member's CPU, charged in profiles to whatever call went deep first
// (mostly the JSON decode). A goroutine that ran one mailbox keeps its
// stack for the next (until a garbage collection shrinks an idle one).
//
// A run is handed to a lingering goroutine only if one is idle at that
// moment, else it gets a new one: no run waits, as with the default. An
// idle goroutine ends after linger, or at once after stop.
type warmDispatcher struct {
	throughput int
	linger     time.Duration
	idle       chan func() // unbuffered: a send succeeds only to an idle goroutine
	stopped    chan struct{}
	stopOnce   sync.Once
}

// Mailbox runs of the router and activations: protoactor's default
// throughput (messages per run before yielding), and a second of
// lingering, which keeps a goroutine per concurrent run under steady load
// and lets a burst's go soon after.
const (
	dispatchThroughput = 300
	dispatchLinger     = time.Second
)

func newWarmDispatcher(throughput int, linger time.Duration) *warmDispatcher {
	return &warmDispatcher{throughput: throughput, linger: linger, idle: make(chan func()), stopped: make(chan struct{})}
}

// Schedule implements actor.Dispatcher.
func (d *warmDispatcher) Schedule(fn func()) {
	select {
	case d.idle <- fn:
	default:
		go d.work(fn)
	}
}

// Throughput implements actor.Dispatcher.
func (d *warmDispatcher) Throughput() int { return d.throughput }

// work runs fn, then the runs handed to it while it lingers.
func (d *warmDispatcher) work(fn func()) {
	fn()
	t := time.NewTimer(d.linger)
	defer t.Stop()
	for {
		select {
		case fn = <-d.idle:
			fn()
			t.Reset(d.linger)
		case <-t.C:
			return
		case <-d.stopped:
			return
		}
	}
}

// stop ends the idle goroutines; later runs each get a goroutine of their
// own, which ends with the run. Twice is fine.
func (d *warmDispatcher) stop() { d.stopOnce.Do(func() { close(d.stopped) }) }
