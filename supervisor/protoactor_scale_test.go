package supervisor

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// stubProcess is a registered process that ignores what it is sent: it makes
// a PID alive to the actor system's ProcessRegistry without a goroutine.
type stubProcess struct{}

func (stubProcess) SendUserMessage(*actor.PID, any)   {}
func (stubProcess) SendSystemMessage(*actor.PID, any) {}
func (stubProcess) Stop(*actor.PID)                   {}

// crowd is a parent with many live children that carries out nothing:
// decisions alone are measured, not the restarts.
type crowd struct {
	self     *actor.PID
	children []*actor.PID
}

func (c *crowd) Children() []*actor.PID        { return c.children }
func (c *crowd) EscalateFailure(_, _ any)      {}
func (c *crowd) RestartChildren(...*actor.PID) {}
func (c *crowd) StopChildren(...*actor.PID)    {}
func (c *crowd) ResumeChildren(...*actor.PID)  {}
func (c *crowd) Self() *actor.PID              { return c.self }

// newCrowd registers a parent named name and n children with sys, all alive.
func newCrowd(tb testing.TB, sys *actor.ActorSystem, name string, n int) *crowd {
	tb.Helper()
	c := &crowd{self: register(tb, sys, name)}
	for i := range n {
		c.spawn(tb, sys, fmt.Sprintf("%s/c%d", name, i))
	}
	return c
}

// spawn registers a new child named id after the others.
func (c *crowd) spawn(tb testing.TB, sys *actor.ActorSystem, id string) *actor.PID {
	tb.Helper()
	pid := register(tb, sys, id)
	c.children = append(c.children, pid)
	return pid
}

// end terminates child i: unregistered, and out of the children the way
// protoactor's PIDSet removes one (the last child takes its slot).
func (c *crowd) end(sys *actor.ActorSystem, i int) {
	sys.ProcessRegistry.Remove(c.children[i])
	last := len(c.children) - 1
	c.children[i] = c.children[last]
	c.children = c.children[:last]
}

func register(tb testing.TB, sys *actor.ActorSystem, id string) *actor.PID {
	tb.Helper()
	pid, ok := sys.ProcessRegistry.Add(stubProcess{}, id)
	if !ok {
		tb.Fatalf("%s registered twice", id)
	}
	return pid
}

// failureAllocs is the allocations of one failure decision of a one-for-one
// parent with n live children, its first 10 children failing in turn.
func failureAllocs(t *testing.T, n int) float64 {
	t.Helper()
	sys := newSystem(t)
	c := newCrowd(t, sys, fmt.Sprintf("p%d", n), n)
	s := mustStrategy(t, Spec{Budget: unlimited})
	i := 0
	return testing.AllocsPerRun(200, func() {
		s.HandleFailure(sys, c, c.children[i%10], nil, "boom", nil)
		i++
	})
}

// TestOneForOneDecisionCostIndependentOfChildren: a one-for-one decision
// needs the failed child and the parent's budget only, so a parent of
// 10,000 live children decides as cheaply as one of 10. (Before: every
// failure built a map and a slice of all the children, 10,000 entries.)
func TestOneForOneDecisionCostIndependentOfChildren(t *testing.T) {
	few, many := failureAllocs(t, 10), failureAllocs(t, 10_000)
	t.Logf("allocations per failure: %.1f with 10 children, %.1f with 10,000", few, many)
	if many > few+1 {
		t.Fatalf("one failure allocates %.1f times with 10,000 children, %.1f with 10: the cost grows with the children", many, few)
	}
}

// BenchmarkDecide measures one failure decision (HandleFailure, restarts
// not carried out) of a parent with 10 and with 10,000 live children, every
// child failing in turn, as they do when a fenced member's task actors all
// fail at once.
func BenchmarkDecide(b *testing.B) {
	for _, strategy := range []Strategy{OneForOne, OneForAll} {
		for _, n := range []int{10, 10_000} {
			if strategy != OneForOne && n > 10 {
				continue // a group strategy needs the children list; such parents are small
			}
			b.Run(fmt.Sprintf("%s/children=%d", strategy, n), func(b *testing.B) {
				sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
					return slog.New(slog.DiscardHandler)
				}))
				defer sys.Shutdown()
				c := newCrowd(b, sys, "p", n)
				s, err := NewStrategy(Spec{Strategy: strategy, Budget: unlimited})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				i, cpu := 0, processCPU(b)
				for b.Loop() {
					s.HandleFailure(sys, c, c.children[i%n], nil, "boom", nil)
					i++
				}
				// CPU per decision moves less with the neighbours' load than
				// ns/op does on a shared machine.
				b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// TestStrategyDecidesAsATreeOfAllChildren: keeping only the children that
// failed changes no decision: random failures of a parent's live children
// are decided exactly as by a Tree that holds every child, the way the
// strategy kept them before.
func TestStrategyDecidesAsATreeOfAllChildren(t *testing.T) {
	for _, strategy := range []Strategy{OneForOne, OneForAll, RestForOne} {
		t.Run(strategy.String(), func(t *testing.T) {
			sys := newSystem(t)
			c := newCrowd(t, sys, "p", 40)
			spec := Spec{
				Strategy: strategy,
				Budget:   Budget{MaxRestarts: 12, Period: time.Minute},
				Backoff:  Backoff{Initial: time.Millisecond, Multiplier: 2, Max: time.Second, Jitter: JitterFull},
			}
			rng := rand.New(rand.NewPCG(1, uint64(strategy)))
			now, draw := t0, 0.0
			var got []Decision
			s := mustStrategy(t, spec, WithClock(func() time.Time { return now }),
				WithRand(func() float64 { return draw }),
				WithObserver(func(_ *actor.PID, _ Failure, d Decision) { got = append(got, d) }))
			reference := func() *Tree {
				var all []Child
				for _, pid := range c.children {
					all = append(all, Child{ID: pid.Id})
				}
				return mustTree(t, spec, all...)
			}
			ref := reference()
			reasons := []any{"boom", errBoom, Failure{Cause: CauseCancelled}, wrappedPermanent()}
			for i := range 2000 {
				now = now.Add(time.Duration(rng.IntN(4000)) * time.Millisecond)
				draw = rng.Float64()
				child, reason := c.children[rng.IntN(len(c.children))], reasons[rng.IntN(len(reasons))]
				s.HandleFailure(sys, c, child, nil, reason, nil)
				want := ref.Failed(child.Id, FailureFromReason(reason, now), now, draw)
				if want.Directive == Escalate {
					ref = reference() // the strategy forgets an escalating parent
				}
				if !reflect.DeepEqual(got[i], want) {
					t.Fatalf("failure %d of %s: decided %+v, a tree of every child %+v", i, child.Id, got[i], want)
				}
			}
		})
	}
}

// TestOneForOneForgetsDeadChildren: a one-for-one tree forgets children
// that have terminated once it has doubled, so a parent whose children
// fail once each and end does not keep them all.
func TestOneForOneForgetsDeadChildren(t *testing.T) {
	sys := newSystem(t)
	c := newCrowd(t, sys, "p", 0)
	s := mustStrategy(t, Spec{Budget: unlimited}).(*actorStrategy)
	keeper := register(t, sys, "p/keeper") // alive throughout: the parent is not taken for restarted
	s.HandleFailure(sys, c, keeper, nil, "boom", nil)
	most := 0
	for i := range 10_000 {
		pid := register(t, sys, fmt.Sprintf("p/t%d", i))
		s.HandleFailure(sys, c, pid, nil, "boom", nil)
		sys.ProcessRegistry.Remove(pid)
		s.mu.Lock()
		p := s.parents[c]
		most = max(most, len(p.tree.children))
		if len(p.pids) != len(p.tree.children) {
			t.Fatalf("after %d: %d incarnations for %d children", i, len(p.pids), len(p.tree.children))
		}
		s.mu.Unlock()
	}
	if most > 2*pruneFloor {
		t.Fatalf("the tree held up to %d children, at most 2 of them alive", most)
	}
}

// TestOneForOneNewIncarnation: a child spawned again under the same name
// starts its restart count (and backoff) afresh, while its earlier restarts
// still count against the parent's budget.
func TestOneForOneNewIncarnation(t *testing.T) {
	sys := newSystem(t)
	c := newCrowd(t, sys, "p", 1)
	var got []Decision
	s := mustStrategy(t, Spec{Budget: Budget{MaxRestarts: 3}},
		WithObserver(func(_ *actor.PID, _ Failure, d Decision) { got = append(got, d) }))
	s.HandleFailure(sys, c, c.children[0], nil, "boom", nil)
	s.HandleFailure(sys, c, c.children[0], nil, "boom", nil)
	id := c.children[0].Id
	c.end(sys, 0)
	again := c.spawn(t, sys, id)
	s.HandleFailure(sys, c, again, nil, "boom", nil)
	s.HandleFailure(sys, c, again, nil, "boom", nil)
	var restarts []int
	for _, d := range got {
		restarts = append(restarts, d.Restart)
	}
	if !slices.Equal(restarts, []int{1, 2, 1, 1}) || got[3].Directive != Escalate {
		t.Fatalf("restart counts %v, last %+v; want 1 2 1, then escalation (budget of 3 spent)", restarts, got[3])
	}
}

// TestOneForOneBudgetKeptWhileAnOlderChildLives: a child the tree does not
// know failing keeps the parent's budget while a child alive at the last
// failure lives, even if every child that failed has ended; it starts a
// fresh budget once none does (the parent was restarted).
func TestOneForOneBudgetKeptWhileAnOlderChildLives(t *testing.T) {
	sys := newSystem(t)
	c := newCrowd(t, sys, "p", 3)
	var got []Directive
	s := mustStrategy(t, Spec{Budget: Budget{MaxRestarts: 1}},
		WithObserver(func(_ *actor.PID, _ Failure, d Decision) { got = append(got, d.Directive) }))
	fail := func(pid *actor.PID) { s.HandleFailure(sys, c, pid, nil, "boom", nil) }
	c1, c2 := c.children[1], c.children[2]
	fail(c1) // restart: the budget is spent
	fail(c2) // escalate, forgetting the tree
	fail(c1) // a fresh tree: restart
	c.end(sys, 1)
	fail(c2) // c1, the one that failed, has ended, but c0 lives: escalate
	fail(c2) // a fresh tree: restart
	c.end(sys, 0)
	c.end(sys, 0)
	// The parent restarts: a new generation of children.
	fail(c.spawn(t, sys, "p/d0")) // nobody alive at the last failure lives: a fresh tree, restart
	want := []Directive{Restart, Escalate, Restart, Escalate, Restart, Restart}
	if !slices.Equal(got, want) {
		t.Fatalf("directives %v, want %v", got, want)
	}
}

// TestOneForOneDecidesAsWhenItKnewEveryChild: while children are spawned,
// end, fail and the parent restarts, the one-for-one path decides exactly
// as the path that learns every child on each failure (the code before it,
// still the group strategies' path). The first child lives until the
// parent restarts, as a parent's oldest children often do.
func TestOneForOneDecidesAsWhenItKnewEveryChild(t *testing.T) {
	sys := newSystem(t)
	c := newCrowd(t, sys, "p", 40)
	spec := Spec{
		Budget:  Budget{MaxRestarts: 12, Period: time.Minute},
		Backoff: Backoff{Initial: time.Millisecond, Multiplier: 2, Max: time.Second, Jitter: JitterFull},
	}
	rng := rand.New(rand.NewPCG(2, 3))
	now, draw := t0, 0.0
	var got Decision
	s := mustStrategy(t, spec, WithClock(func() time.Time { return now }), WithRand(func() float64 { return draw }),
		WithObserver(func(_ *actor.PID, _ Failure, d Decision) { got = d }))
	ref := mustStrategy(t, spec, WithRand(func() float64 { return draw })).(*actorStrategy)
	reasons := []any{"boom", errBoom, Failure{Cause: CauseCancelled}, wrappedPermanent()}
	spawned, fresh := len(c.children), 0
	for i := range 5000 {
		now = now.Add(time.Duration(rng.IntN(4000)) * time.Millisecond)
		switch r := rng.IntN(200); {
		case r < 30:
			c.spawn(t, sys, fmt.Sprintf("p/c%d", spawned))
			spawned++
		case r < 60 && len(c.children) > 1:
			c.end(sys, 1+rng.IntN(len(c.children)-1))
		case r == 60: // the parent restarts: its children end, new ones start
			for len(c.children) > 0 {
				c.end(sys, 0)
			}
			for range 5 {
				c.spawn(t, sys, fmt.Sprintf("p/c%d", spawned))
				spawned++
			}
			fresh++
		}
		draw = rng.Float64()
		child, reason := c.children[rng.IntN(len(c.children))], reasons[rng.IntN(len(reasons))]
		s.HandleFailure(sys, c, child, nil, reason, nil)
		want, _ := ref.decideGroup(sys, c, child, FailureFromReason(reason, now), now)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("failure %d of %s: decided %+v, knowing every child %+v", i, child.Id, got, want)
		}
	}
	if fresh == 0 {
		t.Fatal("the parent never restarted")
	}
}

// BenchmarkFailureStorm measures, on real actors, every child of a
// one-for-one parent failing at once and being restarted, as a fenced
// member's task actors are: the figure is per failure.
func BenchmarkFailureStorm(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("children=%d", n), func(b *testing.B) {
			sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
				return slog.New(slog.DiscardHandler)
			}))
			defer sys.Shutdown()
			var restarted atomic.Int64
			child := actor.PropsFromFunc(func(ctx actor.Context) {
				switch ctx.Message().(type) {
				case string:
					panic("fail")
				case *actor.Restarting:
					restarted.Add(1)
				}
			})
			s, err := NewStrategy(Spec{Budget: unlimited})
			if err != nil {
				b.Fatal(err)
			}
			children := make(chan []*actor.PID, 1)
			parent := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
				if _, ok := ctx.Message().(*actor.Started); ok {
					pids := make([]*actor.PID, n)
					for i := range pids {
						pids[i] = ctx.Spawn(child)
					}
					children <- pids
				}
			}, actor.WithSupervisor(s)))
			defer func() { _ = sys.Root.StopFuture(parent).Wait() }()
			pids := <-children
			cpu, want := processCPU(b), int64(0)
			for b.Loop() {
				for _, pid := range pids {
					sys.Root.Send(pid, "fail")
				}
				want += int64(n)
				for restarted.Load() < want {
					time.Sleep(100 * time.Microsecond) // poll; the loop is timed as a whole
				}
			}
			b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N*n), "cpu-ns/failure")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/failure")
		})
	}
}

// processCPU is the CPU time this process has used, user and system, in ns.
func processCPU(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
