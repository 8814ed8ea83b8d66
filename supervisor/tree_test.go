package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var unlimited = Budget{MaxRestarts: -1}

func TestTreeTargets(t *testing.T) {
	abcd := []Child{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}
	tests := []struct {
		name     string
		strategy Strategy
		children []Child
		stopped  string // a child stopped before the failure, if any
		failed   string
		want     []string
		discard  []string
	}{
		{"one_for_one first", OneForOne, abcd, "", "a", []string{"a"}, nil},
		{"one_for_one middle", OneForOne, abcd, "", "c", []string{"c"}, nil},
		{"one_for_all first", OneForAll, abcd, "", "a", []string{"a", "b", "c", "d"}, nil},
		{"one_for_all last", OneForAll, abcd, "", "d", []string{"a", "b", "c", "d"}, nil},
		{"rest_for_one first", RestForOne, abcd, "", "a", []string{"a", "b", "c", "d"}, nil},
		{"rest_for_one middle", RestForOne, abcd, "", "b", []string{"b", "c", "d"}, nil},
		{"rest_for_one last", RestForOne, abcd, "", "d", []string{"d"}, nil},
		{"one_for_all skips stopped", OneForAll, abcd, "b", "c", []string{"a", "c", "d"}, nil},
		{"rest_for_one skips stopped", RestForOne, abcd, "c", "b", []string{"b", "d"}, nil},
		{
			"one_for_all discards temporary", OneForAll,
			[]Child{{ID: "a"}, {ID: "t", Restart: Temporary}, {ID: "b", Restart: Transient}},
			"", "b", []string{"a", "b"}, []string{"t"},
		},
		{
			"rest_for_one discards later temporary only", RestForOne,
			[]Child{{ID: "t1", Restart: Temporary}, {ID: "a"}, {ID: "t2", Restart: Temporary}},
			"", "a", []string{"a"}, []string{"t2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := mustTree(t, noBackoffSpec(tt.strategy, unlimited), tt.children...)
			if tt.stopped != "" {
				tree.Failed(tt.stopped, Failure{Cause: CauseCancelled}, at(0), 0)
			}
			d := tree.Failed(tt.failed, Failure{Err: errBoom}, at(time.Second), 0)
			if d.Directive != Restart {
				t.Fatalf("directive = %v, want restart (%s)", d.Directive, d.Reason)
			}
			if !slices.Equal(d.Targets, tt.want) {
				t.Errorf("targets = %v, want %v", d.Targets, tt.want)
			}
			if !slices.Equal(d.Discard, tt.discard) {
				t.Errorf("discard = %v, want %v", d.Discard, tt.discard)
			}
			for _, id := range tt.discard {
				if slices.ContainsFunc(tree.Children(), func(c Child) bool { return c.ID == id }) {
					t.Errorf("discarded child %q still in tree", id)
				}
			}
		})
	}
}

func TestTreeRestartTypes(t *testing.T) {
	tests := []struct {
		typ       RestartType
		exited    bool // normal exit instead of failure
		want      Directive
		reason    string
		forgotten bool
	}{
		{Permanent, false, Restart, "restart 1", false},
		{Permanent, true, Restart, "after normal exit", false},
		{Transient, false, Restart, "restart 1", false},
		{Transient, true, Stop, "transient child exited normally", false},
		{Temporary, false, Stop, "temporary child is not restarted after panic: boom", true},
		{Temporary, true, Stop, "temporary child exited normally", true},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%v/exited=%v", tt.typ, tt.exited)
		t.Run(name, func(t *testing.T) {
			tree := mustTree(t, noBackoffSpec(OneForOne, unlimited), Child{ID: "c", Restart: tt.typ})
			var d Decision
			if tt.exited {
				d = tree.Exited("c", at(0))
			} else {
				d = tree.Failed("c", Failure{Cause: CausePanic, Err: &PanicError{Value: "boom"}}, at(0), 0)
			}
			if d.Directive != tt.want || !strings.Contains(d.Reason, tt.reason) {
				t.Fatalf("got %v %q, want %v containing %q", d.Directive, d.Reason, tt.want, tt.reason)
			}
			if !slices.Equal(d.Targets, []string{"c"}) {
				t.Errorf("targets = %v, want [c]", d.Targets)
			}
			if gone := len(tree.Children()) == 0; gone != tt.forgotten {
				t.Errorf("forgotten = %v, want %v", gone, tt.forgotten)
			}
		})
	}
}

// step is one event in a budget scenario.
type step struct {
	at   time.Duration
	want Directive
	n    int // expected Decision.Restart
}

func runSteps(t *testing.T, tree *Tree, id string, steps []step) Decision {
	t.Helper()
	var d Decision
	for i, s := range steps {
		d = tree.Failed(id, Failure{Err: errBoom}, at(s.at), 0)
		if d.Directive != s.want || d.Restart != s.n {
			t.Fatalf("step %d at %s: got %v restart=%d (%s), want %v restart=%d",
				i, s.at, d.Directive, d.Restart, d.Reason, s.want, s.n)
		}
	}
	return d
}

func TestTreeBudget(t *testing.T) {
	tests := []struct {
		name   string
		budget Budget
		steps  []step
		reason string // substring of the last decision's reason
	}{
		{
			name:   "sliding window",
			budget: Budget{MaxRestarts: 2, Period: 10 * time.Second},
			steps: []step{
				{0, Restart, 1},
				{time.Second, Restart, 2},
				{2 * time.Second, Escalate, 2},
				// restart at 0 leaves the window at 10s exactly
				{10 * time.Second, Restart, 2},
				{10500 * time.Millisecond, Escalate, 2},
				{11 * time.Second, Restart, 2},
				{30 * time.Second, Restart, 1},
			},
			reason: "restart 1",
		},
		{
			name:   "lifetime",
			budget: Budget{MaxRestarts: 3},
			steps: []step{
				{0, Restart, 1},
				{time.Hour, Restart, 2},
				{48 * time.Hour, Restart, 3},
				{1000 * time.Hour, Escalate, 3},
			},
			reason: "restart budget exhausted: 3 restarts, max 3 restarts over the supervisor's lifetime; last failure: error: boom",
		},
		{
			name:   "zero budget escalates at once",
			budget: Budget{},
			steps:  []step{{0, Escalate, 0}},
			reason: "restart budget exhausted: 0 restarts",
		},
		{
			name:   "unlimited",
			budget: unlimited,
			steps:  []step{{0, Restart, 1}, {0, Restart, 2}, {0, Restart, 3}, {0, Restart, 4}},
			reason: "restart 4",
		},
		{
			name:   "window exhausted",
			budget: Budget{MaxRestarts: 1, Period: time.Minute},
			steps:  []step{{0, Restart, 1}, {59 * time.Second, Escalate, 1}},
			reason: "1 restarts, max 1 restarts within 1m0s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := mustTree(t, noBackoffSpec(OneForOne, tt.budget), Child{ID: "c"})
			d := runSteps(t, tree, "c", tt.steps)
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason = %q, want it to contain %q", d.Reason, tt.reason)
			}
		})
	}
}

func TestTreeBudgetIsShared(t *testing.T) {
	tree := mustTree(t, noBackoffSpec(OneForOne, Budget{MaxRestarts: 2}), Child{ID: "a"}, Child{ID: "b"})
	if d := tree.Failed("a", Failure{}, at(0), 0); d.Directive != Restart {
		t.Fatalf("a: %v", d.Directive)
	}
	if d := tree.Failed("b", Failure{}, at(0), 0); d.Directive != Restart || d.Restart != 1 {
		t.Fatalf("b: %v restart=%d", d.Directive, d.Restart)
	}
	if d := tree.Failed("a", Failure{}, at(0), 0); d.Directive != Escalate {
		t.Fatalf("third restart in the tree: %v, want escalate", d.Directive)
	}
	tree.Remove("a")
	if d := tree.Failed("b", Failure{}, at(0), 0); d.Directive != Escalate {
		t.Fatalf("removed child's restarts must keep counting: %v", d.Directive)
	}
}

func TestTreeDecider(t *testing.T) {
	pe := &PanicError{Value: "boom", Stack: []byte("goroutine 1 [running]:")}
	tests := []struct {
		name    string
		decider Decider
		failure Failure
		want    Directive
		reason  string
	}{
		{"wrapped permanent error", nil, Failure{Err: wrappedPermanent()}, Stop, "permanent error: task x: bad input"},
		{"outer retryable overrides", nil, Failure{Err: retryableErr{wrappedPermanent()}}, Restart, "restart 1"},
		{"plain error", nil, Failure{Err: errBoom}, Restart, "restart 1 in 0s after error: boom"},
		{"panic", nil, Failure{Cause: CausePanic, Err: pe, Stack: pe.Stack}, Restart, "after panic: boom"},
		{"attempt timeout", nil, Watchdog{AttemptTimeout: 2 * time.Second}.Failure(CauseAttemptTimeout, t0), Restart, "after attempt_timeout: attempt ran longer than 2s"},
		{"member lost", nil, Failure{Cause: CauseMemberLost}, Restart, "after member_lost"},
		{"cancelled", nil, Failure{Cause: CauseCancelled, Err: context.Canceled}, Stop, "not restarting after cancelled: context canceled"},
		{"deadline", nil, Failure{Cause: CauseDeadline, Err: context.DeadlineExceeded}, Stop, "deadline_exceeded"},
		{"custom escalate", func(Failure) Directive { return Escalate }, Failure{Err: errBoom}, Escalate, "escalating after error: boom"},
		{"custom resume", func(Failure) Directive { return Resume }, Failure{Err: errBoom}, Resume, "resuming after error: boom"},
		{"bogus directive escalates", func(Failure) Directive { return Directive(42) }, Failure{}, Escalate, "escalating"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen Failure
			decider := tt.decider
			if decider == nil {
				decider = DefaultDecider
			}
			spec := Spec{Budget: unlimited, Decider: func(f Failure) Directive { seen = f; return decider(f) }}
			tree := mustTree(t, spec, Child{ID: "c"})
			d := tree.Failed("c", tt.failure, at(time.Second), 0)
			if d.Directive != tt.want || !strings.Contains(d.Reason, tt.reason) {
				t.Fatalf("got %v %q, want %v containing %q", d.Directive, d.Reason, tt.want, tt.reason)
			}
			if string(seen.Stack) != string(tt.failure.Stack) {
				t.Errorf("decider saw stack %q, want %q", seen.Stack, tt.failure.Stack)
			}
			if want := tt.failure.At; want.IsZero() && !seen.At.Equal(at(time.Second)) {
				t.Errorf("At = %v, want the decision time", seen.At)
			}
		})
	}
}

func TestTreeBackoffSequence(t *testing.T) {
	spec := Spec{
		Budget:  Budget{MaxRestarts: -1, Period: time.Minute},
		Backoff: Backoff{Initial: 100 * time.Millisecond, Multiplier: 2, Max: time.Second},
	}
	tree := mustTree(t, spec, Child{ID: "c"})
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		d := tree.Failed("c", Failure{}, at(time.Duration(i)*time.Second), 0.5)
		if d.Delay != w*time.Millisecond || d.Restart != i+1 {
			t.Fatalf("restart %d: delay %s restart=%d, want %s", i+1, d.Delay, d.Restart, w*time.Millisecond)
		}
	}
	// A child quiet for a whole window starts the sequence over.
	d := tree.Failed("c", Failure{}, at(10*time.Minute), 0.5)
	if d.Delay != 100*time.Millisecond || d.Restart != 1 {
		t.Fatalf("after a quiet window: delay %s restart=%d", d.Delay, d.Restart)
	}
	if got := tree.Restarts("c"); got != 7 {
		t.Errorf("Restarts = %d, want lifetime count 7", got)
	}
}

func TestTreeReplay(t *testing.T) {
	backoff := Backoff{Initial: 100 * time.Millisecond, Multiplier: 2, Max: time.Minute}
	t.Run("lifetime budget and backoff continue", func(t *testing.T) {
		tree := mustTree(t, Spec{Budget: Budget{MaxRestarts: 3}, Backoff: backoff}, Child{ID: "attempt", Restart: Transient})
		tree.Replay("attempt", at(2*time.Second), at(time.Second)) // any order
		tree.Replay("ghost", at(0))                                // ignored
		if got := tree.Restarts("attempt"); got != 2 {
			t.Fatalf("Restarts = %d, want 2", got)
		}
		d := tree.Failed("attempt", Failure{}, at(time.Hour), 0)
		if d.Directive != Restart || d.Restart != 3 || d.Delay != 400*time.Millisecond {
			t.Fatalf("got %v restart=%d delay=%s, want restart 3 after 400ms", d.Directive, d.Restart, d.Delay)
		}
		if d := tree.Failed("attempt", Failure{}, at(2*time.Hour), 0); d.Directive != Escalate {
			t.Fatalf("budget not honoured after replay: %v", d.Directive)
		}
	})
	t.Run("window drops old replayed restarts", func(t *testing.T) {
		tree := mustTree(t, Spec{Budget: Budget{MaxRestarts: 2, Period: time.Minute}, Backoff: backoff}, Child{ID: "c"})
		tree.Replay("c", at(0), at(50*time.Second), at(55*time.Second))
		if d := tree.Failed("c", Failure{}, at(58*time.Second), 0); d.Directive != Escalate {
			t.Fatalf("three replayed restarts in window: %v, want escalate", d.Directive)
		}
		d := tree.Failed("c", Failure{}, at(111*time.Second), 0)
		if d.Directive != Restart || d.Restart != 2 || d.Delay != 200*time.Millisecond {
			t.Fatalf("got %v restart=%d delay=%s, want restart 2 after 200ms", d.Directive, d.Restart, d.Delay)
		}
	})
}

func TestTreeChildren(t *testing.T) {
	if _, err := NewTree(Spec{Strategy: Strategy(9)}); !errors.Is(err, ErrUnknownStrategy) {
		t.Errorf("bad strategy: %v", err)
	}
	if _, err := NewTree(Spec{Budget: Budget{Period: -1}}); !errors.Is(err, ErrInvalidBudget) {
		t.Errorf("bad budget: %v", err)
	}
	if _, err := NewTree(Spec{Backoff: Backoff{Initial: -1}}); !errors.Is(err, ErrInvalidBackoff) {
		t.Errorf("bad backoff: %v", err)
	}
	if _, err := NewTree(Spec{}, Child{ID: "a"}, Child{ID: "a"}); !errors.Is(err, ErrDuplicateChild) {
		t.Errorf("duplicate: %v", err)
	}
	tree := mustTree(t, DefaultSpec(), Child{ID: "a"})
	for _, c := range []Child{{}, {ID: "x", Restart: RestartType(7)}} {
		if err := tree.Add(c); !errors.Is(err, ErrInvalidChild) {
			t.Errorf("Add(%+v) = %v, want ErrInvalidChild", c, err)
		}
	}
	if err := tree.Add(Child{ID: "b", Restart: Transient}); err != nil {
		t.Fatal(err)
	}
	tree.Remove("nobody")
	if got := tree.Children(); !slices.Equal(got, []Child{{ID: "a"}, {ID: "b", Restart: Transient}}) {
		t.Errorf("Children = %v", got)
	}
	if tree.Spec().Budget != DefaultBudget() {
		t.Errorf("Spec not kept")
	}
	if d := tree.Failed("nobody", Failure{}, t0, 0); d.Directive != Escalate || !strings.Contains(d.Reason, "unknown child") {
		t.Errorf("unknown failed: %v %q", d.Directive, d.Reason)
	}
	if d := tree.Exited("nobody", t0); d.Directive != Stop || !strings.Contains(d.Reason, "unknown child") {
		t.Errorf("unknown exited: %v %q", d.Directive, d.Reason)
	}
	if tree.Restarts("nobody") != 0 {
		t.Errorf("Restarts of unknown child")
	}
}

func TestTreeExitedPermanentUsesBudget(t *testing.T) {
	spec := Spec{Budget: Budget{MaxRestarts: 1}, Backoff: Backoff{Initial: time.Second, Multiplier: 2, Max: time.Minute, Jitter: JitterFull}}
	tree := mustTree(t, spec, Child{ID: "c"})
	if d := tree.Exited("c", t0); d.Directive != Restart || d.Delay != time.Second {
		t.Fatalf("first exit: %v delay %s, want restart after the un-jittered 1s", d.Directive, d.Delay)
	}
	if d := tree.Exited("c", t0); d.Directive != Escalate {
		t.Fatalf("second exit: %v, want escalate", d.Directive)
	}
}
