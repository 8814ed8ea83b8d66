package supervisor

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

func newSystem(t *testing.T) *actor.ActorSystem {
	t.Helper()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	t.Cleanup(sys.Shutdown)
	return sys
}

// fail asks a probe child to panic with reason.
type fail struct{ reason any }

// family records what happens to a parent and its probe children. Children
// are keyed by their name ("c0", "c1", ...), which stays the same across
// restarts and re-spawns.
type family struct {
	mu         sync.Mutex
	pids       map[string]*actor.PID
	starts     map[string]int
	restarts   map[string]int
	terminated []string
	decisions  []Decision
	failures   []Failure
}

func newFamily() *family {
	return &family{pids: map[string]*actor.PID{}, starts: map[string]int{}, restarts: map[string]int{}}
}

func name(pid *actor.PID) string { return pid.Id[strings.LastIndexByte(pid.Id, '/')+1:] }

func (f *family) child(ctx actor.Context) {
	f.mu.Lock()
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		f.starts[name(ctx.Self())]++
	case *actor.Restarting:
		f.restarts[name(ctx.Self())]++
	case fail:
		f.mu.Unlock()
		panic(msg.reason)
	}
	f.mu.Unlock()
}

// parent returns a receive function that spawns n probe children on start.
func (f *family) parent(n int) actor.ReceiveFunc {
	return func(ctx actor.Context) {
		switch msg := ctx.Message().(type) {
		case *actor.Started:
			for i := range n {
				pid, err := ctx.SpawnNamed(actor.PropsFromFunc(f.child), fmt.Sprintf("c%d", i))
				if err != nil {
					panic(err)
				}
				f.mu.Lock()
				f.pids[name(pid)] = pid
				f.mu.Unlock()
			}
		case *actor.Terminated:
			f.mu.Lock()
			f.terminated = append(f.terminated, name(msg.Who))
			f.mu.Unlock()
		}
	}
}

func (f *family) observe(_ *actor.PID, fl Failure, d Decision) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, fl)
	f.decisions = append(f.decisions, d)
}

func (f *family) pid(n string) *actor.PID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pids[n]
}

// startsAre reports whether each child has started exactly want times,
// and its parent has recorded its PID (a child's Started can come before
// SpawnNamed returns to the parent: a nil PID was sent a message, CI).
func (f *family) startsAre(want map[string]int) func() bool {
	return func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for k, v := range want {
			if f.starts[k] != v || f.pids[k] == nil {
				return false
			}
		}
		return true
	}
}

func (f *family) snapshot() (decisions []Decision, failures []Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.decisions), slices.Clone(f.failures)
}

func mustStrategy(t *testing.T, spec Spec, opts ...Option) actor.SupervisorStrategy {
	t.Helper()
	s, err := NewStrategy(spec, opts...)
	if err != nil {
		t.Fatalf("NewStrategy: %v", err)
	}
	return s
}

// spawnFamily starts a parent supervising n probe children with strategy and
// waits until they all run.
func spawnFamily(t *testing.T, sys *actor.ActorSystem, f *family, n int, strategy actor.SupervisorStrategy) *actor.PID {
	t.Helper()
	parent := sys.Root.Spawn(actor.PropsFromFunc(f.parent(n), actor.WithSupervisor(strategy)))
	t.Cleanup(func() { _ = sys.Root.StopFuture(parent).Wait() })
	want := map[string]int{}
	for i := range n {
		want[fmt.Sprintf("c%d", i)] = 1
	}
	eventually(t, "children started", f.startsAre(want))
	return parent
}

func TestStrategyRestartsPanickingChild(t *testing.T) {
	sys := newSystem(t)
	events := make(chan *actor.SupervisorEvent, 8)
	sub := sys.EventStream.Subscribe(func(evt any) {
		if e, ok := evt.(*actor.SupervisorEvent); ok {
			select {
			case events <- e:
			default: // never block the publishing actor
			}
		}
	})
	t.Cleanup(func() { sys.EventStream.Unsubscribe(sub) })

	f := newFamily()
	spawnFamily(t, sys, f, 2, mustStrategy(t, Spec{Budget: unlimited}, WithObserver(f.observe)))
	sys.Root.Send(f.pid("c0"), fail{"boom"})
	eventually(t, "c0 restarted", f.startsAre(map[string]int{"c0": 2, "c1": 1}))

	decisions, failures := f.snapshot()
	if len(decisions) != 1 || decisions[0].Directive != Restart || decisions[0].Restart != 1 {
		t.Fatalf("decisions = %+v", decisions)
	}
	if failures[0].Cause != CausePanic || failures[0].Error() != "panic: boom" {
		t.Errorf("failure = %v", failures[0])
	}
	f.mu.Lock()
	restarting := f.restarts["c0"]
	f.mu.Unlock()
	if restarting != 1 {
		t.Errorf("c0 saw %d Restarting messages, want 1", restarting)
	}
	select {
	case e := <-events:
		if e.Directive != actor.RestartDirective || e.Child.Id != f.pid("c0").Id || e.Reason != "boom" {
			t.Errorf("event = %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no SupervisorEvent published")
	}
}

func TestStrategyBackoff(t *testing.T) {
	sys := newSystem(t)
	f := newFamily()
	spec := Spec{
		Budget:  unlimited,
		Backoff: Backoff{Initial: 10 * time.Millisecond, Multiplier: 2, Max: 30 * time.Millisecond, Jitter: JitterFull},
	}
	// rnd 0.999 puts full jitter at the top of its range, so the delays are
	// the ceilings (minus rounding).
	spawnFamily(t, sys, f, 1, mustStrategy(t, spec, WithObserver(f.observe), WithRand(func() float64 { return 0.999 })))
	for i := 2; i <= 4; i++ {
		sys.Root.Send(f.pid("c0"), fail{"boom"})
		eventually(t, fmt.Sprintf("incarnation %d", i), f.startsAre(map[string]int{"c0": i}))
	}
	decisions, _ := f.snapshot()
	var got []time.Duration
	for _, d := range decisions {
		got = append(got, d.Delay.Round(time.Millisecond))
	}
	if want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond}; !slices.Equal(got, want) {
		t.Fatalf("delays = %v, want %v", got, want)
	}
}

func TestStrategyBudgetWindowUsesClock(t *testing.T) {
	sys := newSystem(t)
	f := newFamily()
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	spawnFamily(t, sys, f, 1, mustStrategy(t, Spec{Budget: Budget{MaxRestarts: 1, Period: time.Minute}},
		WithObserver(f.observe), WithClock(clock)))
	for i := 2; i <= 3; i++ {
		sys.Root.Send(f.pid("c0"), fail{"boom"})
		eventually(t, "restart", f.startsAre(map[string]int{"c0": i}))
		mu.Lock()
		now = now.Add(time.Minute) // the earlier restart leaves the window
		mu.Unlock()
	}
	decisions, failures := f.snapshot()
	if len(decisions) != 2 || decisions[1].Directive != Restart || !failures[1].At.Equal(t0.Add(time.Minute)) {
		t.Fatalf("decisions = %+v failures = %+v", decisions, failures)
	}
}

func TestStrategyBudgetExhaustionEscalates(t *testing.T) {
	sys := newSystem(t)
	f, g := newFamily(), newFamily()
	parentStrategy := mustStrategy(t, Spec{Budget: Budget{MaxRestarts: 2}}, WithObserver(f.observe))
	parentProps := actor.PropsFromFunc(f.parent(1), actor.WithSupervisor(parentStrategy))
	grand := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			ctx.SpawnNamed(parentProps, "parent")
		}
	}, actor.WithSupervisor(mustStrategy(t, Spec{Budget: unlimited}, WithObserver(g.observe)))))
	t.Cleanup(func() { _ = sys.Root.StopFuture(grand).Wait() })
	eventually(t, "child started", f.startsAre(map[string]int{"c0": 1}))

	for i := 2; i <= 3; i++ {
		sys.Root.Send(f.pid("c0"), fail{"boom"})
		eventually(t, "restart within budget", f.startsAre(map[string]int{"c0": i}))
	}
	sys.Root.Send(f.pid("c0"), fail{"boom"})
	// The grandparent restarts the parent, which spawns a fresh c0.
	eventually(t, "parent restarted", f.startsAre(map[string]int{"c0": 4}))

	decisions, _ := f.snapshot()
	last := decisions[len(decisions)-1]
	if last.Directive != Escalate || !strings.Contains(last.Reason, "restart budget exhausted: 2 restarts") {
		t.Fatalf("last parent decision = %+v", last)
	}
	gd, gf := g.snapshot()
	if len(gd) != 1 || gd[0].Directive != Restart || gf[0].Error() != "panic: boom" {
		t.Fatalf("grandparent decisions = %+v failures = %+v", gd, gf)
	}
	// The restarted parent starts with a fresh budget.
	sys.Root.Send(f.pid("c0"), fail{"boom"})
	eventually(t, "restart after parent restart", f.startsAre(map[string]int{"c0": 5}))
	if d, _ := f.snapshot(); d[len(d)-1].Directive != Restart {
		t.Fatalf("after parent restart: %+v", d[len(d)-1])
	}
}

func TestStrategyPermanentErrorStopsChild(t *testing.T) {
	sys := newSystem(t)
	f := newFamily()
	spawnFamily(t, sys, f, 2, mustStrategy(t, Spec{Budget: unlimited}, WithObserver(f.observe)))
	sys.Root.Send(f.pid("c0"), fail{wrappedPermanent()})
	eventually(t, "c0 terminated", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return slices.Equal(f.terminated, []string{"c0"})
	})
	decisions, failures := f.snapshot()
	if decisions[0].Directive != Stop || decisions[0].Reason != "permanent error: task x: bad input" {
		t.Fatalf("decision = %+v", decisions[0])
	}
	if failures[0].Cause != CauseError {
		t.Errorf("cause = %v, want error", failures[0].Cause)
	}
	if !f.startsAre(map[string]int{"c0": 1, "c1": 1})() {
		t.Errorf("a child was restarted")
	}
}

func TestStrategyGroupRestarts(t *testing.T) {
	tests := []struct {
		strategy Strategy
		targets  []string
		want     map[string]int
	}{
		{OneForAll, []string{"c0", "c1", "c2"}, map[string]int{"c0": 2, "c1": 2, "c2": 2}},
		{RestForOne, []string{"c1", "c2"}, map[string]int{"c0": 1, "c1": 2, "c2": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.strategy.String(), func(t *testing.T) {
			sys := newSystem(t)
			f := newFamily()
			spawnFamily(t, sys, f, 3, mustStrategy(t, Spec{Strategy: tt.strategy, Budget: unlimited}, WithObserver(f.observe)))
			sys.Root.Send(f.pid("c1"), fail{"boom"})
			eventually(t, "group restarted", f.startsAre(tt.want))
			decisions, _ := f.snapshot()
			var got []string
			for _, id := range decisions[0].Targets {
				got = append(got, id[strings.LastIndexByte(id, '/')+1:])
			}
			if !slices.Equal(got, tt.targets) {
				t.Fatalf("targets = %v, want %v", got, tt.targets)
			}
		})
	}
}

func TestStrategySharedByParents(t *testing.T) {
	sys := newSystem(t)
	shared := mustStrategy(t, Spec{Budget: Budget{MaxRestarts: 1}})
	a, b := newFamily(), newFamily()
	spawnFamily(t, sys, a, 1, shared)
	spawnFamily(t, sys, b, 1, shared)
	sys.Root.Send(a.pid("c0"), fail{"boom"})
	sys.Root.Send(b.pid("c0"), fail{"boom"})
	// Each parent has its own budget of one restart.
	eventually(t, "a restarted", a.startsAre(map[string]int{"c0": 2}))
	eventually(t, "b restarted", b.startsAre(map[string]int{"c0": 2}))
}

func TestNewStrategyErrors(t *testing.T) {
	if _, err := NewStrategy(Spec{Budget: Budget{Period: -time.Second}}); !errors.Is(err, ErrInvalidBudget) {
		t.Errorf("invalid spec: %v", err)
	}
	for _, opt := range []Option{WithClock(nil), WithRand(nil)} {
		if _, err := NewStrategy(DefaultSpec(), opt); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("nil option: %v", err)
		}
	}
}
