package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/metrics"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

const completed = messages.TaskState_TASK_STATE_COMPLETED

// offsetClock is a clock that tests move forward.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// laterKind fails its first attempt and completes from the second; its
// retry waits backoff.
func laterKind(t *testing.T, backoff time.Duration) *actors.TaskKind {
	t.Helper()
	k, err := actors.NewTask("later", func(ctx actors.TaskContext, _ []byte) ([]byte, error) {
		if ctx.Attempt() < 2 {
			return nil, errors.New("not yet")
		}
		return []byte(`"done"`), nil
	}, actors.WithSettings(actors.Settings{MaxAttempts: 3, Backoff: supervisor.Backoff{Initial: backoff, Multiplier: 1, Max: backoff}}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// startIdleManager starts a manager on a bbolt store of its own, on clock
// (nil: time.Now), hosting kinds.
func startIdleManager(t *testing.T, clock func() time.Time, kinds ...*actors.TaskKind) *Manager {
	t.Helper()
	return startIdleManagerWith(t, clock, nil, kinds...)
}

// startIdleManagerWith is startIdleManager with its configuration
// adjusted by edit (nil: none).
func startIdleManagerWith(t *testing.T, clock func() time.Time, edit func(*Config), kinds ...*actors.TaskKind) *Manager {
	t.Helper()
	s, err := boltstore.Open(boltstore.DefaultConfig(filepath.Join(t.TempDir(), "tasks.db")))
	if err != nil {
		t.Fatal(err)
	}
	reg := actors.NewRegistry()
	for _, k := range kinds {
		if err := reg.RegisterTask(k); err != nil {
			t.Fatal(err)
		}
	}
	cfg := DefaultConfig("m1")
	cfg.Store, cfg.Registry, cfg.Clock = s, reg, clock
	cfg.ParkIdle = true
	cfg.Metrics = metrics.New(metrics.DefaultConfig())
	cfg.Logger = testutil.Logger(t, slog.LevelInfo)
	if edit != nil {
		edit(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
		_ = s.Close()
	})
	return m
}

// countsOf asks the root actor for its task actors, parked tasks and
// armed wake-ups.
func countsOf(t *testing.T, m *Manager) idleCounts {
	t.Helper()
	res, err := m.system.Root.RequestFuture(m.root, &idleCounts{}, 10*time.Second).Result()
	if err != nil {
		t.Fatalf("asking the root for its counts: %v", err)
	}
	return *res.(*idleCounts)
}

// waitCounts polls until the root's counts are want.
func waitCounts(t *testing.T, m *Manager, want idleCounts, timeout time.Duration) {
	t.Helper()
	testutil.Eventually(t, timeout, func() (bool, string) {
		got := countsOf(t, m)
		return got == want, fmt.Sprintf("%d task actors, %d parked, %d wake-ups; want %d, %d, %d", got.actors, got.parked, got.wakes, want.actors, want.parked, want.wakes)
	})
}

// submitMany submits n tasks of kind, ids prefix-0…, from a few callers.
func submitMany(t *testing.T, m *Manager, prefix, kind string, n int) {
	t.Helper()
	ctx := testutil.Context(t, time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				if _, _, err := m.Submit(ctx, Submission{ID: fmt.Sprintf("%s-%d", prefix, i), Kind: kind}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("submit: %v", err)
	}
}

// countIn is how many stored tasks are in state s.
func countIn(t *testing.T, m *Manager, s messages.TaskState) int {
	t.Helper()
	recs, err := m.List(testutil.Context(t, 10*time.Second), s)
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// waitEnd waits until task id is finished.
func waitEnd(ctx context.Context, m *Manager, id string) (store.Record, error) {
	r, err := m.Wait(ctx, id, 0)
	for err == nil && !store.Terminal(r.Task.GetStatus().GetState()) {
		if err = ctx.Err(); err == nil {
			r, err = m.Wait(ctx, id, r.Revision)
		}
	}
	return r, err
}

// TestIdleTasksHoldNoActor: 1,000 tasks waiting an hour for their retry
// hold no task actor (and no timer of their own): the root keeps one
// wake-up each. When the hour has passed they wake, run their second
// attempt on the claim they held (no new epoch), complete, and leave no
// actor, parked task or wake-up behind.
func TestIdleTasksHoldNoActor(t *testing.T) {
	const n = 1000
	clock := &offsetClock{}
	m := startIdleManager(t, clock.now, laterKind(t, time.Hour))
	submitMany(t, m, "p", "later", n)
	testutil.Eventually(t, time.Minute, func() (bool, string) {
		got := countIn(t, m, retrying)
		return got == n, fmt.Sprintf("%d of %d tasks retrying", got, n)
	})
	waitCounts(t, m, idleCounts{actors: 0, parked: n, wakes: n}, 30*time.Second)
	if got := m.owned[retrying].Load(); got != n {
		t.Errorf("owned retrying tasks (metrics) = %d, want %d: parked tasks count too", got, n)
	}

	clock.advance(time.Hour + time.Minute)
	m.system.Root.Send(m.root, &wakeTick{}) // the root's timer, armed for an hour, fires now
	testutil.Eventually(t, time.Minute, func() (bool, string) {
		got := countIn(t, m, completed)
		return got == n, fmt.Sprintf("%d of %d tasks completed after their retry was due", got, n)
	})
	recs, err := m.List(testutil.Context(t, 10*time.Second), completed)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if st := r.Task.GetStatus(); st.GetAttempts() != 2 || st.GetEpoch() != 1 || st.GetOwner() != "m1" {
			t.Fatalf("%s: %d attempts, epoch %d, owner %s; want 2 attempts under the first claim (epoch 1, m1)", r.Task.GetSpec().GetId(), st.GetAttempts(), st.GetEpoch(), st.GetOwner())
		}
	}
	waitCounts(t, m, idleCounts{}, 30*time.Second)
	if got := m.owned[retrying].Load() + m.owned[running].Load(); got != 0 {
		t.Errorf("owned retrying and running tasks (metrics) = %d after all completed, want 0", got)
	}
}

// TestParkedTasksWakeOnTheirTimer: tasks whose retry is a few seconds
// away park, and the root's own timer wakes them.
func TestParkedTasksWakeOnTheirTimer(t *testing.T) {
	const n = 20
	m := startIdleManager(t, nil, laterKind(t, 3*time.Second))
	submitMany(t, m, "w", "later", n)
	parked := 0
	testutil.Eventually(t, time.Minute, func() (bool, string) {
		parked = max(parked, countsOf(t, m).parked)
		got := countIn(t, m, completed)
		return got == n, fmt.Sprintf("%d of %d tasks completed", got, n)
	})
	if parked == 0 {
		t.Error("no task was ever parked while it waited 3 s for its retry")
	}
	waitCounts(t, m, idleCounts{}, 30*time.Second)
}

// TestParkedTaskControls: a cancel, a restart and a terminate by its job
// reach a parked task: a new actor serves each, as the old one would have.
func TestParkedTaskControls(t *testing.T) {
	m := startIdleManager(t, nil, laterKind(t, time.Hour))
	submitMany(t, m, "c", "later", 3)
	waitCounts(t, m, idleCounts{actors: 0, parked: 3, wakes: 3}, time.Minute)
	ctx := testutil.Context(t, 30*time.Second)

	rec, err := m.Cancel(ctx, "c-0", "no longer wanted")
	if err != nil || rec.Task.GetStatus().GetState() != messages.TaskState_TASK_STATE_CANCELLED {
		t.Fatalf("Cancel of a parked task = %v, %v; want cancelled", rec.Task.GetStatus().GetState(), err)
	}
	if _, err := m.Restart(ctx, "c-1", "now", ""); err != nil {
		t.Fatalf("Restart of a parked task: %v", err)
	}
	r, err := waitEnd(ctx, m, "c-1")
	if err != nil || r.Task.GetStatus().GetState() != completed || r.Task.GetStatus().GetAttempts() != 2 {
		t.Fatalf("restarted parked task: %v after %d attempts (%v); want completed by attempt 2", r.Task.GetStatus().GetState(), r.Task.GetStatus().GetAttempts(), err)
	}
	waitCounts(t, m, idleCounts{actors: 0, parked: 1, wakes: 1}, 30*time.Second)
	if rec, err := m.Get(ctx, "c-2"); err != nil || rec.Task.GetStatus().GetState() != retrying {
		t.Fatalf("the untouched parked task: %v, %v; want still retrying", rec.Task.GetStatus().GetState(), err)
	}
}

// TestStartAtTaskParks: a task submitted to start in an hour waits with
// no actor, and starts when its time comes.
func TestStartAtTaskParks(t *testing.T) {
	clock := &offsetClock{}
	ok, err := actors.NewTask("ok", func(_ actors.TaskContext, p []byte) ([]byte, error) { return p, nil })
	if err != nil {
		t.Fatal(err)
	}
	m := startIdleManager(t, clock.now, ok)
	ctx := testutil.Context(t, 30*time.Second)
	if _, _, err := m.Submit(ctx, Submission{ID: "s-1", Kind: "ok", StartAt: clock.now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitCounts(t, m, idleCounts{actors: 0, parked: 1, wakes: 1}, 30*time.Second)
	clock.advance(time.Hour)
	m.system.Root.Send(m.root, &wakeTick{})
	if r, err := waitEnd(ctx, m, "s-1"); err != nil || r.Task.GetStatus().GetState() != completed {
		t.Fatalf("the task due in an hour: %v, %v; want completed", r.Task.GetStatus().GetState(), err)
	}
	waitCounts(t, m, idleCounts{}, 30*time.Second)
}

// TestParkedTasksWaitOutAFence: a fenced member wakes no parked task (it
// may not start attempts); its wake-ups stay, and fire once it resumes.
func TestParkedTasksWaitOutAFence(t *testing.T) {
	const n = 5
	clock := &offsetClock{}
	var fenced atomic.Bool
	m := startIdleManagerWith(t, clock.now, func(cfg *Config) { cfg.Fenced = fenced.Load }, laterKind(t, time.Hour))
	submitMany(t, m, "f", "later", n)
	waitCounts(t, m, idleCounts{actors: 0, parked: n, wakes: n}, time.Minute)
	fenced.Store(true)
	m.Fence()
	clock.advance(time.Hour + time.Minute)
	m.system.Root.Send(m.root, &wakeTick{})
	if got := countsOf(t, m); got != (idleCounts{actors: 0, parked: n, wakes: n}) {
		t.Fatalf("fenced, after the wake-ups came due: %+v; want all %d still parked with their wake-ups", got, n)
	}
	fenced.Store(false)
	m.Resume()
	testutil.Eventually(t, time.Minute, func() (bool, string) {
		got := countIn(t, m, completed)
		return got == n, fmt.Sprintf("%d of %d tasks completed after the fence lifted", got, n)
	})
	waitCounts(t, m, idleCounts{}, 30*time.Second)
}
