package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
)

// countingStore counts the writes of tasks and can fail creations.
type countingStore struct {
	store.Store
	creates, updates atomic.Int32
	probes           atomic.Int32 // calls of Exists (store.Prober)
	failCreate       atomic.Bool
	onCreate         func(id string)
}

var errStoreDown = errors.New("store down")

func (s *countingStore) Create(ctx context.Context, t *messages.Task) (store.Record, bool, error) {
	if s.failCreate.Load() {
		return store.Record{}, false, errStoreDown
	}
	s.creates.Add(1)
	if s.onCreate != nil {
		s.onCreate(t.GetSpec().GetId())
	}
	return s.Store.Create(ctx, t)
}

func (s *countingStore) Update(ctx context.Context, t *messages.Task, rev uint64) (store.Record, error) {
	s.updates.Add(1)
	return s.Store.Update(ctx, t, rev)
}

func (s *countingStore) Exists(ctx context.Context, id string) (bool, error) {
	s.probes.Add(1)
	return s.Store.(store.Prober).Exists(ctx, id)
}

type firstWriteHarness struct {
	m      *tasks.Manager
	s      *countingStore
	fenced atomic.Bool
	mu     sync.Mutex
	runs   map[string]int
	order  []string // "start <id>" and "create <id>", as they happen
}

func (h *firstWriteHarness) started(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.runs[id]
}

// newFirstWrite starts a manager whose store counts writes, with the
// given hold on first writes.
func newFirstWrite(t *testing.T, hold time.Duration) *firstWriteHarness {
	h := &firstWriteHarness{runs: map[string]int{}}
	h.m, _ = startManager(t, "m1", filepath.Join(t.TempDir(), "tasks.db"), func(cfg *tasks.Config) {
		h.s = &countingStore{Store: cfg.Store}
		cfg.Store, cfg.HoldFirstWrite = h.s, hold
		cfg.Fenced = h.fenced.Load
		cfg.Events.AttemptStarted = func(id string, _ int) {
			h.mu.Lock()
			h.runs[id]++
			h.order = append(h.order, "start "+id)
			h.mu.Unlock()
		}
		h.s.onCreate = func(id string) { h.mu.Lock(); h.order = append(h.order, "create "+id); h.mu.Unlock() }
	})
	return h
}

// A task whose first attempt ends within the hold is written once,
// finished, and its submit answers with the result; submitted again, it
// is not run again.
func TestQuickTaskIsWrittenOnceFinished(t *testing.T) {
	h := newFirstWrite(t, time.Minute)
	ctx := testutil.Context(t, 10*time.Second)
	rec, created, err := h.m.Submit(ctx, tasks.Submission{ID: "q1", Kind: "ok", Payload: []byte(`7`)})
	if err != nil || !created {
		t.Fatalf("Submit = created %v, %v", created, err)
	}
	st := rec.Task.GetStatus()
	if st.GetState() != completed || string(st.GetResult()) != "7" || st.GetEpoch() != 1 || st.GetAttempts() != 1 {
		t.Fatalf("Submit answered %v; want completed with result 7 by attempt 1 at epoch 1", st)
	}
	if c, u := h.s.creates.Load(), h.s.updates.Load(); c != 1 || u != 0 {
		t.Fatalf("%d creations and %d updates; want the task written once", c, u)
	}
	stored, err := h.s.Get(ctx, "q1")
	if err != nil || stored.Revision != rec.Revision || stored.Task.GetStatus().GetState() != completed {
		t.Fatalf("stored %v at %d, %v; want the completed task at revision %d", stored.Task.GetStatus(), stored.Revision, err, rec.Revision)
	}
	again, created, err := h.m.Submit(ctx, tasks.Submission{ID: "q1", Kind: "ok", Payload: []byte(`7`)})
	if err != nil || created || again.Revision != rec.Revision {
		t.Fatalf("resubmission = created %v at %d, %v; want the stored task", created, again.Revision, err)
	}
	if n := h.started("q1"); n != 1 {
		t.Fatalf("the task ran %d times; want once", n)
	}
	if _, _, err := h.m.Submit(ctx, tasks.Submission{ID: "q1", Kind: "ok", Payload: []byte(`8`)}); !errors.Is(err, api.ErrAlreadyExists) {
		t.Fatalf("another task under a taken id: %v, want ErrAlreadyExists", err)
	}
	if n := h.started("q1"); n != 1 {
		t.Fatalf("the task ran %d times; want once", n)
	}
}

// A task still running when the hold ends is written running then, which
// answers its submit; it finishes with a second write.
func TestLongTaskIsWrittenRunningAfterTheHold(t *testing.T) {
	h := newFirstWrite(t, 20*time.Millisecond)
	ctx := testutil.Context(t, 10*time.Second)
	rec, created, err := h.m.Submit(ctx, tasks.Submission{ID: "l1", Kind: "slow"})
	if err != nil || !created || rec.Task.GetStatus().GetState() != running {
		t.Fatalf("Submit = %v, created %v, %v; want it stored running", rec.Task.GetStatus(), created, err)
	}
	if stored, err := h.s.Get(ctx, "l1"); err != nil || stored.Task.GetStatus().GetState() != running || stored.Task.GetStatus().GetOwner() != "m1" {
		t.Fatalf("stored %v, %v; want running, owned by m1", stored.Task.GetStatus(), err)
	}
	if _, err := h.m.Cancel(ctx, "l1", "test over"); err != nil {
		t.Fatal(err)
	}
	if c, u := h.s.creates.Load(), h.s.updates.Load(); c != 1 || u != 1 {
		t.Fatalf("%d creations and %d updates; want one of each", c, u)
	}
}

// A first write that fails reaches the caller as an error, and nothing is
// stored; the same submit succeeds once the store is back.
func TestFailedFirstWriteReachesTheCaller(t *testing.T) {
	h := newFirstWrite(t, time.Minute)
	ctx := testutil.Context(t, 10*time.Second)
	h.s.failCreate.Store(true)
	if _, _, err := h.m.Submit(ctx, tasks.Submission{ID: "f1", Kind: "ok", Payload: []byte(`1`)}); !errors.Is(err, errStoreDown) {
		t.Fatalf("Submit with the store down: %v, want its error", err)
	}
	if _, err := h.s.Get(ctx, "f1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the task was stored: %v", err)
	}
	h.s.failCreate.Store(false)
	rec, created, err := h.m.Submit(ctx, tasks.Submission{ID: "f1", Kind: "ok", Payload: []byte(`1`)})
	if err != nil || !created {
		t.Fatalf("Submit again = created %v, %v; want it stored", created, err)
	}
	for !store.Terminal(rec.Task.GetStatus().GetState()) {
		if rec, err = h.m.Wait(ctx, "f1", rec.Revision); err != nil {
			t.Fatal(err)
		}
	}
	if st := rec.Task.GetStatus(); st.GetState() != completed || string(st.GetResult()) != "1" {
		t.Fatalf("the task ended %v; want completed with result 1", st)
	}
}

// A member that fences itself while a new task runs unstored writes
// nothing: the submit fails as unavailable, to be retried elsewhere.
func TestFencedBeforeFirstWriteStoresNothing(t *testing.T) {
	h := newFirstWrite(t, time.Hour)
	ctx := testutil.Context(t, 10*time.Second)
	done := make(chan error, 1)
	go func() {
		_, _, err := h.m.Submit(ctx, tasks.Submission{ID: "x1", Kind: "slow"})
		done <- err
	}()
	testutil.Eventually(t, 5*time.Second, func() (bool, string) { return h.started("x1") == 1, "attempt not started" })
	h.fenced.Store(true)
	h.m.Fence()
	select {
	case err := <-done:
		if !errors.Is(err, api.ErrUnavailable) {
			t.Fatalf("Submit while fencing: %v, want ErrUnavailable", err)
		}
	case <-ctx.Done():
		t.Fatal("Submit did not return after the fence")
	}
	if _, err := h.s.Get(ctx, "x1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the task was stored: %v", err)
	}
	if c := h.s.creates.Load(); c != 0 {
		t.Fatalf("%d creations; want none", c)
	}
}

// A kind whose tasks outlast the hold stops holding: its next tasks are
// written running before their attempt starts, so their submits are not
// held up.
func TestSlowKindIsWrittenFirst(t *testing.T) {
	h := newFirstWrite(t, 20*time.Millisecond)
	ctx := testutil.Context(t, 20*time.Second)
	for i := 0; i < 6; i++ {
		id := fmt.Sprintf("slow-%d", i)
		if _, _, err := h.m.Submit(ctx, tasks.Submission{ID: id, Kind: "slow"}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.m.Cancel(ctx, id, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := h.m.Submit(ctx, tasks.Submission{ID: "slow-next", Kind: "slow"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() (bool, string) { return h.started("slow-next") == 1, "attempt not started" })
	h.mu.Lock()
	defer h.mu.Unlock()
	first := ""
	for _, e := range h.order {
		if strings.HasSuffix(e, " slow-next") {
			first = e
			break
		}
	}
	if first != "create slow-next" {
		t.Fatalf("the next slow task's first event was %q, want its creation before its attempt (order %v)", first, h.order)
	}
	if !slices.Contains(h.order, "start slow-0") || slices.Index(h.order, "start slow-0") > slices.Index(h.order, "create slow-0") {
		t.Fatalf("the first slow task was not started before its write: %v", h.order)
	}
}

// watchingStore calls after(id) once it has created a task: the owner-index
// watch seeing the task the moment it is stored.
type watchingStore struct {
	store.Store
	after func(id string)
}

func (s *watchingStore) Create(ctx context.Context, t *messages.Task) (store.Record, bool, error) {
	rec, created, err := s.Store.Create(ctx, t)
	if err == nil && created {
		s.after(t.GetSpec().GetId())
	}
	return rec, created, err
}

// TestWatchDuringCreationStartsNoSecondActor: a task written first (no
// hold) is activated by the owner-index watch as soon as it is stored,
// before its creator's own activation reaches the root. That activation
// must wait for the creator's, not start a second actor, which would take
// the new task for one interrupted in flight and run it again.
func TestWatchDuringCreationStartsNoSecondActor(t *testing.T) {
	var m atomic.Pointer[tasks.Manager]
	var mu sync.Mutex
	starts := map[string][]int{}
	mgr, _ := startManager(t, "m1", filepath.Join(t.TempDir(), "tasks.db"), func(cfg *tasks.Config) {
		cfg.HoldFirstWrite = 0 // written first, then activated
		cfg.Store = &watchingStore{Store: cfg.Store, after: func(id string) { m.Load().Activate(id, false) }}
		cfg.Events.AttemptStarted = func(id string, n int) {
			mu.Lock()
			starts[id] = append(starts[id], n)
			mu.Unlock()
		}
	})
	m.Store(mgr)
	ctx := testutil.Context(t, 20*time.Second)
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := mgr.Submit(ctx, tasks.Submission{ID: fmt.Sprintf("w-%d", i), Kind: "slow"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Every task's first attempt starts; a second actor would start a
	// second attempt right after it (its load counts the first as lost).
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(starts) == n, fmt.Sprintf("%d of %d tasks started an attempt", len(starts), n)
	})
	if err := mgr.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := mgr.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, rec := range recs {
		st := rec.Task.GetStatus()
		if id := rec.Task.GetSpec().GetId(); st.GetAttempts() != 1 || len(st.GetErrors()) != 0 || !slices.Equal(starts[id], []int{1}) {
			t.Errorf("task %s: %d attempts, errors %v, attempts started %v; want attempt 1 only", id, st.GetAttempts(), st.GetErrors(), starts[id])
		}
	}
}

// outageStore makes the next Update calls fail as if Consul were
// unreachable; with land, each such write lands before its answer is lost.
type outageStore struct {
	store.Store
	fail    atomic.Int32
	land    atomic.Bool
	updates atomic.Int32
}

func (s *outageStore) Update(ctx context.Context, t *messages.Task, rev uint64) (store.Record, error) {
	s.updates.Add(1)
	if s.fail.Add(-1) >= 0 {
		if s.land.Load() {
			if _, err := s.Store.Update(ctx, t, rev); err != nil {
				return store.Record{}, err
			}
		}
		return store.Record{}, fmt.Errorf("%w: connection refused (test outage)", store.ErrUnavailable)
	}
	return s.Store.Update(ctx, t, rev)
}

// TestCommitRidesOutAShortStoreOutage: a commit that finds the store
// unavailable is tried again, and the attempt is not counted lost; a write
// that landed with its answer lost is recognized, not applied twice.
func TestCommitRidesOutAShortStoreOutage(t *testing.T) {
	for _, land := range []bool{false, true} {
		t.Run(fmt.Sprintf("landed=%v", land), func(t *testing.T) {
			var s *outageStore
			finished := make(chan struct{}, 1)
			m, _ := startManager(t, "m1", filepath.Join(t.TempDir(), "tasks.db"), func(cfg *tasks.Config) {
				s = &outageStore{Store: cfg.Store}
				cfg.Store, cfg.HoldFirstWrite = s, 0 // created first, committed by an update
				// Told once the commit's write has returned to the actor.
				cfg.Events.TaskFinished = func(string, messages.TaskState) { finished <- struct{}{} }
			})
			s.land.Store(land)
			s.fail.Store(3)
			ctx := testutil.Context(t, 20*time.Second)
			rec, _, err := m.Submit(ctx, tasks.Submission{ID: "o1", Kind: "ok", Payload: []byte(`5`)})
			if err != nil {
				t.Fatal(err)
			}
			for !store.Terminal(rec.Task.GetStatus().GetState()) {
				if rec, err = m.Wait(ctx, "o1", rec.Revision); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-finished:
			case <-ctx.Done():
				t.Fatal("the task actor never saw its commit through")
			}
			stored, err := m.Get(ctx, "o1")
			if err != nil {
				t.Fatal(err)
			}
			st := stored.Task.GetStatus()
			if st.GetState() != completed || st.GetAttempts() != 1 || len(st.GetErrors()) != 0 || string(st.GetResult()) != "5" || stored.Revision != rec.Revision {
				t.Fatalf("after the outage: %v at revision %d (completed at %d); want completed by attempt 1 with no error, written once", st, stored.Revision, rec.Revision)
			}
			// Not landed: 3 failures and the write that succeeds. Landed:
			// the first lands unanswered, the retry conflicts and reads it back.
			want := int32(4)
			if land {
				want = 2
			}
			if u := s.updates.Load(); u != want {
				t.Fatalf("%d updates, want %d", u, want)
			}
		})
	}
}
