package supervisor

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// fakeSupervisor records what a strategy asks of it.
type fakeSupervisor struct {
	self     *actor.PID
	mu       sync.Mutex
	children []*actor.PID
	calls    []string
}

func (s *fakeSupervisor) Self() *actor.PID       { return s.self }
func (s *fakeSupervisor) Children() []*actor.PID { return s.children }
func (s *fakeSupervisor) record(verb string, pids []*actor.PID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range pids {
		verb += " " + p.Id
	}
	s.calls = append(s.calls, verb)
}
func (s *fakeSupervisor) EscalateFailure(reason, _ any)   { s.record("escalate", nil) }
func (s *fakeSupervisor) RestartChildren(p ...*actor.PID) { s.record("restart", p) }
func (s *fakeSupervisor) StopChildren(p ...*actor.PID)    { s.record("stop", p) }
func (s *fakeSupervisor) ResumeChildren(p ...*actor.PID)  { s.record("resume", p) }

func (s *fakeSupervisor) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func TestStrategyDirectives(t *testing.T) {
	sys := newSystem(t)
	a, b := sys.NewLocalPID("p/a"), sys.NewLocalPID("p/b")
	tests := []struct {
		name    string
		spec    Spec
		reasons []any
		want    []string
	}{
		{"resume", Spec{Decider: func(Failure) Directive { return Resume }}, []any{"boom"}, []string{"resume p/a"}},
		{"escalate", Spec{}, []any{"boom"}, []string{"escalate"}},
		{"delayed restart", Spec{Budget: unlimited, Backoff: Backoff{Initial: time.Millisecond, Multiplier: 1, Max: time.Millisecond}},
			[]any{"boom"}, []string{"restart p/a"}},
		{"stop", Spec{}, []any{Failure{Cause: CauseCancelled}}, []string{"stop p/a"}},
		{"fresh budget after escalation", Spec{Budget: Budget{MaxRestarts: 1}}, []any{"x", "x", "x"},
			[]string{"restart p/a", "escalate", "restart p/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sup := &fakeSupervisor{self: sys.NewLocalPID("p"), children: []*actor.PID{a, b}}
			s := mustStrategy(t, tt.spec)
			for _, r := range tt.reasons {
				s.HandleFailure(sys, sup, a, nil, r, nil)
			}
			eventually(t, "calls", func() bool { return slices.Equal(sup.got(), tt.want) })
		})
	}
}

func TestStrategyForgetsRestartedParent(t *testing.T) {
	sys := newSystem(t)
	s := mustStrategy(t, Spec{Budget: Budget{MaxRestarts: 1}})
	sup := &fakeSupervisor{self: sys.NewLocalPID("p"), children: []*actor.PID{sys.NewLocalPID("p/a")}}
	s.HandleFailure(sys, sup, sup.children[0], nil, "boom", nil)
	// The parent was restarted and spawned a new generation of children.
	sup.children = []*actor.PID{sys.NewLocalPID("p/a2")}
	s.HandleFailure(sys, sup, sup.children[0], nil, "boom", nil)
	if got := sup.got(); !slices.Equal(got, []string{"restart p/a", "restart p/a2"}) {
		t.Fatalf("calls = %v", got)
	}
}

func TestStrategySweepsDeadParents(t *testing.T) {
	sys := newSystem(t)
	s := mustStrategy(t, Spec{Budget: unlimited}).(*actorStrategy)
	// None of these parents is registered with the actor system: all dead.
	for i := range 2*sweepFloor + 1 {
		sup := &fakeSupervisor{self: sys.NewLocalPID("dead"), children: []*actor.PID{sys.NewLocalPID("dead/c")}}
		s.HandleFailure(sys, sup, sup.children[0], nil, i, nil)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.parents) > sweepFloor {
		t.Fatalf("%d parents kept, want at most %d after sweeping", len(s.parents), sweepFloor)
	}
}
