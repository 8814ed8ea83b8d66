package tasks_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
)

// storeCalls is what a countingStore has seen so far: each is one store
// round trip (one Consul request for the Consul store).
type storeCalls struct{ probes, creates, updates int32 }

func (h *firstWriteHarness) calls() storeCalls {
	return storeCalls{h.s.probes.Load(), h.s.creates.Load(), h.s.updates.Load()}
}

func (c storeCalls) since(before storeCalls) storeCalls {
	return storeCalls{c.probes - before.probes, c.creates - before.creates, c.updates - before.updates}
}

func (c storeCalls) total() int32 { return c.probes + c.creates + c.updates }

// TestFreshSubmitIsOneStoreRoundTrip: a short task whose id the caller
// says is new (or has none, so the manager makes one) is stored by its one
// write, finished: one store round trip. An id the caller gave without
// the hint is asked about first: two.
func TestFreshSubmitIsOneStoreRoundTrip(t *testing.T) {
	h := newFirstWrite(t, time.Minute)
	ctx := testutil.Context(t, 10*time.Second)
	for _, tc := range []struct {
		name string
		sub  tasks.Submission
		want storeCalls
	}{
		{"fresh", tasks.Submission{ID: "fresh-1", Kind: "ok", Payload: []byte(`1`), Fresh: true}, storeCalls{creates: 1}},
		{"no id", tasks.Submission{Kind: "ok", Payload: []byte(`2`)}, storeCalls{creates: 1}},
		{"the caller's id", tasks.Submission{ID: "given-1", Kind: "ok", Payload: []byte(`3`)}, storeCalls{probes: 1, creates: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.calls()
			rec, created, err := h.m.Submit(ctx, tc.sub)
			if err != nil || !created {
				t.Fatalf("Submit = created %v, %v", created, err)
			}
			if st := rec.Task.GetStatus(); st.GetState() != completed || string(st.GetResult()) != string(tc.sub.Payload) {
				t.Fatalf("Submit answered %v; want completed with result %s", st, tc.sub.Payload)
			}
			if got := h.calls().since(before); got != tc.want {
				t.Fatalf("store calls %+v (%d round trips); want %+v (%d)", got, got.total(), tc.want, tc.want.total())
			}
		})
	}
}

// TestWrongFreshHintAnswersTheStoredTask: a submit marked fresh for an id
// that is stored (a client bug, or two clients' ids colliding) stores
// nothing and answers the stored task, as the same submit without the hint
// would; another request under the id is refused. The hint skips the
// question, not the write's check.
func TestWrongFreshHintAnswersTheStoredTask(t *testing.T) {
	h := newFirstWrite(t, time.Minute)
	ctx := testutil.Context(t, 10*time.Second)
	first, _, err := h.m.Submit(ctx, tasks.Submission{ID: "w1", Kind: "ok", Payload: []byte(`7`)})
	if err != nil || first.Task.GetStatus().GetState() != completed {
		t.Fatalf("Submit = %v, %v; want completed", first.Task.GetStatus(), err)
	}
	before := h.calls()
	again, created, err := h.m.Submit(ctx, tasks.Submission{ID: "w1", Kind: "ok", Payload: []byte(`7`), Fresh: true})
	if err != nil || created || again.Revision != first.Revision || string(again.Task.GetStatus().GetResult()) != "7" {
		t.Fatalf("wrongly fresh submit = created %v at revision %d, %v; want the stored task at %d", created, again.Revision, err, first.Revision)
	}
	if _, _, err := h.m.Submit(ctx, tasks.Submission{ID: "w1", Kind: "ok", Payload: []byte(`8`), Fresh: true}); !errors.Is(err, api.ErrAlreadyExists) {
		t.Fatalf("another request under a stored id, marked fresh: %v, want ErrAlreadyExists", err)
	}
	if got := h.calls().since(before); got != (storeCalls{creates: 2}) {
		t.Fatalf("store calls %+v; want the two creations that found the task, nothing else", got)
	}
	stored, err := h.s.Get(ctx, "w1")
	if err != nil || stored.Revision != first.Revision || string(stored.Task.GetStatus().GetResult()) != "7" || stored.Task.GetStatus().GetAttempts() != 1 {
		t.Fatalf("stored %v at %d, %v; want the first task unchanged at %d", stored.Task.GetStatus(), stored.Revision, err, first.Revision)
	}
	// Once for the task, and at most once for each wrongly fresh submit:
	// none while the task's actor is still stopping (the task is written
	// first then), one whose result is dropped otherwise
	// (TestWrongFreshHintRunsTheHandlerOnce).
	if n := h.started("w1"); n < 1 || n > 3 {
		t.Fatalf("the handler ran %d times; want 1 to 3", n)
	}
}

// TestWrongFreshHintForARunningTask: marked fresh, a submit of a task that
// runs on this member starts nothing (its actor is live, so the task is
// written first, which finds it) and answers the running task.
func TestWrongFreshHintForARunningTask(t *testing.T) {
	h := newFirstWrite(t, 20*time.Millisecond)
	ctx := testutil.Context(t, 10*time.Second)
	if _, _, err := h.m.Submit(ctx, tasks.Submission{ID: "r1", Kind: "slow"}); err != nil {
		t.Fatal(err)
	}
	rec, created, err := h.m.Submit(ctx, tasks.Submission{ID: "r1", Kind: "slow", Fresh: true})
	if err != nil || created || rec.Task.GetStatus().GetState() != running {
		t.Fatalf("wrongly fresh submit = %v, created %v, %v; want the running task", rec.Task.GetStatus(), created, err)
	}
	if n := h.started("r1"); n != 1 {
		t.Fatalf("the handler ran %d times; want once", n)
	}
	if _, err := h.m.Cancel(ctx, "r1", "test over"); err != nil {
		t.Fatal(err)
	}
}

// handOff is a tasks.Peers that hands submits to owner's manager as the
// node's remoting does (SubmitTask, fresh included).
type handOff struct {
	submitOnly
	owner *tasks.Manager
	reg   *actors.Registry
}

func (p handOff) SubmitTo(ctx context.Context, _ string, t *messages.Task, fresh bool) (store.Record, bool, error) {
	checked, err := tasks.CheckTask(p.reg, t, t.GetStatus().GetOwner())
	if err != nil {
		return store.Record{}, false, err
	}
	return p.owner.SubmitOwned(ctx, checked, "m0", fresh)
}

// TestFreshHintCrossesTheHandOff: a submit taken by a member that does not
// own the task keeps its hint on the way to the owner, which then writes
// the task once without asking the store; without the hint it asks.
func TestFreshHintCrossesTheHandOff(t *testing.T) {
	h := newFirstWrite(t, time.Minute)
	submitter, _ := startManager(t, "m0", filepath.Join(t.TempDir(), "tasks.db"), func(cfg *tasks.Config) {
		cfg.Owner = func(string, string) string { return "m1" }
		cfg.Peers = handOff{owner: h.m, reg: testKinds(t)}
	})
	ctx := testutil.Context(t, 10*time.Second)
	for _, tc := range []struct {
		sub  tasks.Submission
		want storeCalls
	}{
		{tasks.Submission{ID: "h-fresh", Kind: "ok", Payload: []byte(`1`), Fresh: true}, storeCalls{creates: 1}},
		{tasks.Submission{Kind: "ok", Payload: []byte(`2`)}, storeCalls{creates: 1}},
		{tasks.Submission{ID: "h-given", Kind: "ok", Payload: []byte(`3`)}, storeCalls{probes: 1, creates: 1}},
	} {
		before := h.calls()
		rec, created, err := submitter.Submit(ctx, tc.sub)
		if err != nil || !created || rec.Task.GetStatus().GetOwner() != "m1" || rec.Task.GetStatus().GetState() != completed {
			t.Fatalf("Submit %q = %v, created %v, %v; want it completed by m1", tc.sub.ID, rec.Task.GetStatus(), created, err)
		}
		if got := h.calls().since(before); got != tc.want {
			t.Fatalf("Submit %q: the owner's store calls %+v; want %+v", tc.sub.ID, got, tc.want)
		}
	}
}
