package tasks_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/metrics"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

// stuckKinds registers "stuck", whose handler ignores its context and
// blocks until release is closed, then returns its attempt number, with
// the settings (1 ms attempt time-out and backoff, 1000 attempts);
// and "ok", which returns at once.
func stuckKinds(t *testing.T, release <-chan struct{}) *actors.Registry {
	t.Helper()
	reg := actors.NewRegistry()
	hurried := actors.WithSettings(actors.Settings{
		MaxAttempts:    1000,
		Backoff:        supervisor.Backoff{Initial: time.Millisecond, Multiplier: 1, Max: time.Millisecond, Jitter: supervisor.JitterNone},
		AttemptTimeout: time.Millisecond,
	})
	stuck, err := actors.NewTask("stuck", func(ctx actors.TaskContext, _ []byte) ([]byte, error) {
		<-release // ignores ctx on purpose
		return []byte(strconv.Itoa(ctx.Attempt())), nil
	}, hurried)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := actors.NewTask("ok", func(actors.TaskContext, []byte) ([]byte, error) { return []byte("0"), nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*actors.TaskKind{stuck, ok} {
		if err := reg.RegisterTask(k); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// startCapped starts a manager of stuckKinds with the given caps.
func startCapped(t *testing.T, limits tasks.AbandonLimits, release <-chan struct{}) (*tasks.Manager, *metrics.Metrics) {
	t.Helper()
	met := metrics.New(metrics.DefaultConfig())
	m, _ := startManager(t, "m1", filepath.Join(t.TempDir(), "tasks.db"), func(cfg *tasks.Config) {
		cfg.Registry, cfg.Metrics, cfg.Abandoned = stuckKinds(t, release), met, limits
		cfg.Logger = testutil.Logger(t, slog.LevelWarn)
	})
	return m, met
}

func submitN(t *testing.T, m *tasks.Manager, kind string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", kind, i)
		if _, _, err := m.Submit(testutil.Context(t, 10*time.Second), tasks.Submission{ID: ids[i], Kind: kind}); err != nil {
			t.Fatalf("Submit(%s): %v", ids[i], err)
		}
	}
	return ids
}

func status(t *testing.T, m *tasks.Manager, id string) *messages.TaskStatus {
	t.Helper()
	rec, err := m.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Task.GetStatus()
}

// allWaiting reports whether every task of ids waits, with a reason that
// contains want.
func allWaiting(t *testing.T, m *tasks.Manager, ids []string, want string) (bool, string) {
	t.Helper()
	for _, id := range ids {
		st := status(t, m, id)
		if st.GetWaiting() == "" || !strings.Contains(st.GetWaiting(), want) {
			return false, fmt.Sprintf("task %s is %s, attempts %d, waiting %q; want a reason with %q", id, st.GetState(), st.GetAttempts(), st.GetWaiting(), want)
		}
	}
	return true, ""
}

// TestAbandonedAttemptsAreCappedPerKind is issue 19's reproduction, bounded:
// 20 tasks whose handler ignores its context, with a 1 ms attempt time-out,
// 1 ms backoff and 1000 attempts each. Without a cap every attempt leaks a
// goroutine (20,000 in 40 s). With a cap of 8 per kind, the abandoned
// attempts stop at the cap plus at most the attempts running when it was
// reached (one a task), every task waits with the reason in its status,
// the count is reported (Abandoned, the metric); once the handlers are
// released, the abandoned ones return and are uncounted, their results
// are dropped, and every task completes with its last attempt's result.
func TestAbandonedAttemptsAreCappedPerKind(t *testing.T) {
	const tasksN, perKind = 20, 8
	release := make(chan struct{})
	base := runtime.NumGoroutine()
	m, met := startCapped(t, tasks.AbandonLimits{PerKind: perKind, PerMember: 1000}, release)
	// Goroutines: the abandoned handlers (cap + one a task), a running
	// handler a task, and some for the runtime, the store and timers.
	bound := base + perKind + 2*tasksN + 60
	ids := submitN(t, m, "stuck", tasksN)
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		if g := runtime.NumGoroutine(); g > bound {
			t.Fatalf("goroutines grew to %d (from %d; bound %d): abandoned attempts are not capped", g, base, bound)
		}
		return allWaiting(t, m, ids, fmt.Sprintf("on member m1 (cap %d)", perKind))
	})
	ab := m.Abandoned()
	if ab.Count < perKind || ab.Count > perKind+tasksN || ab.ByKind["stuck"] != ab.Count {
		t.Errorf("Abandoned() = %+v, want between %d and %d, all of kind stuck", ab, perKind, perKind+tasksN)
	}
	if got := gathered(t, met, "granary_task_attempts_abandoned", "kind=stuck"); int(got) != ab.Count {
		t.Errorf("granary_task_attempts_abandoned{kind=stuck} = %v, want %d", got, ab.Count)
	}
	st := status(t, m, ids[0])
	if want := "kind stuck has"; !strings.Contains(st.GetWaiting(), want) || !strings.Contains(st.GetWaiting(), "on member m1 (cap 8)") {
		t.Errorf("waiting = %q, want the kind, the member and the cap", st.GetWaiting())
	}
	started := 0
	for _, id := range ids {
		started += int(status(t, m, id).GetAttempts())
	}
	if started > perKind+tasksN {
		t.Errorf("%d attempts started in all, want at most %d (cap + one a task)", started, perKind+tasksN)
	}

	close(release)
	for _, id := range ids {
		testutil.Eventually(t, 20*time.Second, func() (bool, string) {
			st := status(t, m, id)
			return store.Terminal(st.GetState()), fmt.Sprintf("task %s is %s after the release (waiting %q)", id, st.GetState(), st.GetWaiting())
		})
		st := status(t, m, id)
		if st.GetState() != messages.TaskState_TASK_STATE_COMPLETED || string(st.GetResult()) != strconv.Itoa(int(st.GetAttempts())) || st.GetWaiting() != "" {
			t.Errorf("task %s: %s, result %q after %d attempts, waiting %q; want completed with its last attempt's result", id, st.GetState(), st.GetResult(), st.GetAttempts(), st.GetWaiting())
		}
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		n := m.Abandoned().Count
		g := gathered(t, met, "granary_task_attempts_abandoned")
		return n == 0 && g == 0, fmt.Sprintf("%d abandoned attempts (metric %v) once every handler returned, want 0", n, g)
	})
}

// TestAbandonedAttemptsAreCappedPerMember: past the member's cap, no
// attempt of any kind starts there, the task saying why, until abandoned
// attempts return. A new task waits before its first attempt (its first
// write says so), and runs then.
func TestAbandonedAttemptsAreCappedPerMember(t *testing.T) {
	release := make(chan struct{})
	m, _ := startCapped(t, tasks.AbandonLimits{PerKind: 2, PerMember: 2}, release)
	stuck := submitN(t, m, "stuck", 1)
	testutil.Eventually(t, 10*time.Second, func() (bool, string) { return allWaiting(t, m, stuck, "member m1 has 2") })
	okIDs := submitN(t, m, "ok", 1)
	st := status(t, m, okIDs[0])
	if st.GetState() != messages.TaskState_TASK_STATE_PENDING || st.GetAttempts() != 0 || !strings.Contains(st.GetWaiting(), "member m1 has 2 abandoned attempts (cap 2 for all kinds)") {
		t.Fatalf("ok task: %s, %d attempts, waiting %q; want pending, no attempt, waiting for the member's cap", st.GetState(), st.GetAttempts(), st.GetWaiting())
	}
	close(release)
	for _, id := range append(stuck, okIDs...) {
		testutil.Eventually(t, 20*time.Second, func() (bool, string) {
			st := status(t, m, id)
			return st.GetState() == messages.TaskState_TASK_STATE_COMPLETED, fmt.Sprintf("task %s is %s (waiting %q), want completed", id, st.GetState(), st.GetWaiting())
		})
	}
}
