package supervisor

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Option configures NewStrategy.
type Option func(*options) error

type options struct {
	now     func() time.Time
	rnd     func() float64
	observe func(child *actor.PID, f Failure, d Decision)
}

// WithClock replaces time.Now as the source of decision instants, for tests
// that drive budgets with a fake clock.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalidOption)
		}
		o.now = now
		return nil
	}
}

// WithRand replaces math/rand/v2.Float64 as the jitter source. The function
// must return values in [0, 1) and be safe for concurrent use.
func WithRand(rnd func() float64) Option {
	return func(o *options) error {
		if rnd == nil {
			return fmt.Errorf("%w: nil rand", ErrInvalidOption)
		}
		o.rnd = rnd
		return nil
	}
}

// WithObserver registers fn to see every decision before it is carried out.
// fn runs on the supervising actor's goroutine and must not block.
func WithObserver(fn func(child *actor.PID, f Failure, d Decision)) Option {
	return func(o *options) error {
		o.observe = fn
		return nil
	}
}

// actorStrategy adapts a Spec to protoactor-go. One value may serve many
// parents (Props are shared), so it keeps a Tree per parent behind a mutex.
type actorStrategy struct {
	spec Spec
	opts options

	mu        sync.Mutex
	parents   map[actor.Supervisor]*parentState
	nextSweep int
}

var _ actor.SupervisorStrategy = (*actorStrategy)(nil)

// sweepFloor is the parent count below which the strategy does not bother
// to look for dead parents: a few stale trees cost less than the scan.
const sweepFloor = 64

// NewStrategy validates spec and returns a protoactor-go supervisor strategy
// driven by it, for actor.WithSupervisor. One strategy may be shared by many
// parents; each gets its own Tree, keyed by the parent, whose children are
// the parent's children identified by PID.Id. Every child is treated as
// Permanent.
//
// Under OneForOne a decision reads only the failed child and the parent's
// budget, and costs the same whatever the number of the parent's children:
// the tree holds the children that have failed, and forgets those that have
// terminated (asking the actor system's ProcessRegistry) each time its size
// has doubled. A child spawned again under the same name starts its own
// restart count afresh; its earlier restarts still count against the
// parent's budget. When a child the tree does not know fails and no child
// alive at the parent's last failure lives any more (neither the one it
// keeps as a witness nor any that failed), the parent is taken for
// restarted and its tree starts afresh, with a fresh budget.
//
// Under OneForAll and RestForOne the targets are the failed child's
// siblings: on each failure the tree learns every live child of the parent,
// in the order Supervisor.Children reports (spawn order, unless siblings
// have terminated: protoactor then moves the last child into the freed
// slot), and a tree none of whose children survives starts afresh. Such
// parents have few children; each failure costs a pass over them.
func NewStrategy(spec Spec, opts ...Option) (actor.SupervisorStrategy, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	o := options{now: time.Now, rnd: rand.Float64}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &actorStrategy{spec: spec, opts: o, parents: make(map[actor.Supervisor]*parentState), nextSweep: sweepFloor}, nil
}

// HandleFailure implements actor.SupervisorStrategy. It runs on the parent's
// goroutine: it converts reason into a Failure, asks the parent's Tree, and
// restarts (after the backoff, on a timer), stops or resumes the targets, or
// escalates to the grandparent with the original reason and message.
func (s *actorStrategy) HandleFailure(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	_ *actor.RestartStatistics, reason any, message any,
) {
	now := s.opts.now()
	f := FailureFromReason(reason, now)
	d, targets := s.decide(system, sup, child, f, now)
	if s.opts.observe != nil {
		s.opts.observe(child, f, d)
	}
	switch d.Directive {
	case Restart:
		restart := func() {
			publish(system, child, reason, actor.RestartDirective)
			sup.RestartChildren(targets...)
		}
		if d.Delay > 0 {
			// RestartChildren only sends system messages, so calling it from
			// the timer goroutine is safe; protoactor's own backoff strategy
			// does the same.
			time.AfterFunc(d.Delay, restart)
		} else {
			restart()
		}
	case Stop:
		publish(system, child, reason, actor.StopDirective)
		sup.StopChildren(targets...)
	case Resume:
		publish(system, child, reason, actor.ResumeDirective)
		sup.ResumeChildren(targets...)
	default:
		// Like protoactor, leave the event to the grandparent that handles it.
		sup.EscalateFailure(reason, message)
	}
}

func publish(system *actor.ActorSystem, child *actor.PID, reason any, directive actor.Directive) {
	system.EventStream.Publish(&actor.SupervisorEvent{Child: child, Reason: reason, Directive: directive})
}
