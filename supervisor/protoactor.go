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
	parents   map[actor.Supervisor]*Tree
	nextSweep int
}

var _ actor.SupervisorStrategy = (*actorStrategy)(nil)

// sweepFloor is the parent count below which the strategy does not bother
// to look for dead parents: a few stale trees cost less than the scan.
const sweepFloor = 64

// NewStrategy validates spec and returns a protoactor-go supervisor strategy
// driven by it, for actor.WithSupervisor. One strategy may be shared by many
// parents; each gets its own Tree, keyed by the parent, whose children are
// the parent's children identified by PID.Id and added on their first
// failure in the order Supervisor.Children reports (spawn order, unless
// siblings have terminated: protoactor then moves the last child into the
// freed slot). Every child is treated as Permanent.
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
	return &actorStrategy{spec: spec, opts: o, parents: make(map[actor.Supervisor]*Tree), nextSweep: sweepFloor}, nil
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

func (s *actorStrategy) decide(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, f Failure, now time.Time,
) (Decision, []*actor.PID) {
	// Children returns protoactor's internal slice: read it, never keep or
	// append to it.
	children := sup.Children()
	live := make(map[string]*actor.PID, len(children)+1)
	order := make([]*actor.PID, 0, len(children)+1)
	for _, pid := range children {
		live[pid.Id] = pid
		order = append(order, pid)
	}
	if _, ok := live[child.Id]; !ok {
		live[child.Id] = child
		order = append(order, child)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.treeFor(system, sup, live)
	for _, pid := range order {
		if _, known := t.child(pid.Id); !known {
			_ = t.Add(Child{ID: pid.Id, Restart: Permanent}) // cannot fail: unique, non-empty
		}
	}
	d := t.Failed(child.Id, f, now, s.opts.rnd())
	if d.Directive == Escalate {
		// The grandparent restarts or stops this parent, and either way its
		// children are gone; a restarted parent starts with a fresh budget,
		// as an Erlang supervisor does.
		delete(s.parents, sup)
	}
	// All children are Permanent, so d.Discard is always empty.
	return d, lookup(live, d.Targets)
}

// treeFor returns sup's tree after dropping children that are no longer
// alive. A tree none of whose children survive belongs to a parent that was
// restarted, so it is replaced by a fresh one.
func (s *actorStrategy) treeFor(system *actor.ActorSystem, sup actor.Supervisor, live map[string]*actor.PID) *Tree {
	if t, ok := s.parents[sup]; ok {
		known := len(t.children)
		for _, c := range t.Children() {
			if _, ok := live[c.ID]; !ok {
				t.Remove(c.ID)
			}
		}
		if known == 0 || len(t.children) > 0 {
			return t
		}
	}
	if len(s.parents) >= s.nextSweep {
		s.sweep(system)
	}
	t := &Tree{spec: s.spec, index: make(map[string]*childState)}
	s.parents[sup] = t
	return t
}

// sweep forgets parents that have terminated. It runs when the map has
// doubled since the last sweep, which keeps its cost amortised O(1) per
// failure.
func (s *actorStrategy) sweep(system *actor.ActorSystem) {
	for sup := range s.parents {
		if self, ok := sup.(interface{ Self() *actor.PID }); ok {
			if _, alive := system.ProcessRegistry.GetLocal(self.Self().Id); !alive {
				delete(s.parents, sup)
			}
		}
	}
	s.nextSweep = max(sweepFloor, 2*len(s.parents))
}

func lookup(live map[string]*actor.PID, ids []string) []*actor.PID {
	pids := make([]*actor.PID, 0, len(ids))
	for _, id := range ids {
		if pid, ok := live[id]; ok {
			pids = append(pids, pid)
		}
	}
	return pids
}

func publish(system *actor.ActorSystem, child *actor.PID, reason any, directive actor.Directive) {
	system.EventStream.Publish(&actor.SupervisorEvent{Child: child, Reason: reason, Directive: directive})
}
