package supervisor

import (
	"fmt"
	"log/slog"
	"testing"

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
		c.children = append(c.children, register(tb, sys, fmt.Sprintf("%s/c%d", name, i)))
	}
	return c
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
// not carried out) of a parent with 10 and with 10,000 live children, its
// first 10 children failing in turn.
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
				i := 0
				for b.Loop() {
					s.HandleFailure(sys, c, c.children[i%10], nil, "boom", nil)
					i++
				}
			})
		}
	}
}
