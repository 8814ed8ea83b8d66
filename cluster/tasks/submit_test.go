package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
)

// newMember starts a manager for member with the given placement and
// hand-off, on a store of its own.
func newMember(t *testing.T, member string, owner func(kind, id string) string, submitTo func(context.Context, string, *messages.Task) (store.Record, bool, error)) (*tasks.Manager, store.Store) {
	return startManager(t, member, filepath.Join(t.TempDir(), "tasks.db"), func(cfg *tasks.Config) {
		cfg.Owner = owner
		if submitTo != nil {
			cfg.Peers = submitOnly(submitTo)
		}
	})
}

// submitOnly is a tasks.Peers that only hands submits over: hints go
// nowhere and no owner is live for a forwarded control.
type submitOnly func(context.Context, string, *messages.Task) (store.Record, bool, error)

func (f submitOnly) SubmitTo(ctx context.Context, owner string, t *messages.Task, _ bool) (store.Record, bool, error) {
	return f(ctx, owner, t)
}
func (submitOnly) Notify(string, store.Record) {}
func (submitOnly) Push(string, store.Record)   {}
func (submitOnly) Forward(context.Context, string, tasks.Control) (bool, error) {
	return false, nil
}

// startManager starts a manager for member on the bbolt store at path,
// its configuration adjusted by edit; both end with the test.
func startManager(t *testing.T, member, path string, edit func(*tasks.Config)) (*tasks.Manager, store.Store) {
	t.Helper()
	s, err := boltstore.Open(boltstore.DefaultConfig(path))
	if err != nil {
		t.Fatal(err)
	}
	cfg := tasks.DefaultConfig(member)
	cfg.Store, cfg.Registry = s, testKinds(t)
	cfg.Logger = testutil.Logger(t, slog.LevelDebug)
	edit(&cfg)
	m, err := tasks.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = m.Stop(ctx)
		_ = s.Close()
	})
	return m, s
}

// TestSubmitGoesToTheOwner: a submission is handed to its owner, which
// stores it claimed and running its first attempt and runs it once.
func TestSubmitGoesToTheOwner(t *testing.T) {
	owner, ownerStore := newMember(t, "m2", nil, nil)
	var handed int
	submitter, submitterStore := newMember(t, "m1", func(string, string) string { return "m2" },
		func(ctx context.Context, to string, task *messages.Task) (store.Record, bool, error) {
			handed++
			if to != "m2" {
				return store.Record{}, false, fmt.Errorf("handed to %s, want m2", to)
			}
			return owner.SubmitOwned(ctx, task, "m1", false)
		})
	ctx := testutil.Context(t, 20*time.Second)
	rec, created, err := submitter.Submit(ctx, tasks.Submission{ID: "t1", Kind: "flaky", Payload: []byte(`{"succeed_on":1}`)})
	if err != nil || !created || handed != 1 {
		t.Fatalf("Submit = created %v, %v after %d hand-offs", created, err, handed)
	}
	// Stored running, or (its attempt done within the hold on the first
	// write) once, completed.
	st := rec.Task.GetStatus()
	if (st.GetState() != running && st.GetState() != completed) || st.GetOwner() != "m2" || st.GetEpoch() != 1 || st.GetAttempts() != 1 {
		t.Fatalf("stored as %v owner %s epoch %d attempts %d; want running or completed, m2, epoch 1, attempt 1", st.GetState(), st.GetOwner(), st.GetEpoch(), st.GetAttempts())
	}
	if _, err := submitterStore.Get(ctx, "t1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the submitter stored the task too: %v", err)
	}
	var after uint64
	for {
		r, err := owner.Wait(ctx, "t1", after)
		if err != nil {
			t.Fatal(err)
		}
		if store.Terminal(r.Task.GetStatus().GetState()) {
			if r.Task.GetStatus().GetState() != completed || r.Task.GetStatus().GetAttempts() != 1 || r.Task.GetStatus().GetEpoch() != 1 {
				t.Fatalf("finished %v after %d attempts at epoch %d; want completed by attempt 1 at epoch 1", r.Task.GetStatus().GetState(), r.Task.GetStatus().GetAttempts(), r.Task.GetStatus().GetEpoch())
			}
			break
		}
		after = r.Revision
	}
	// Again: the owner answers with the stored task.
	again, created, err := submitter.Submit(ctx, tasks.Submission{ID: "t1", Kind: "flaky", Payload: []byte(`{"succeed_on":1}`)})
	if err != nil || created || again.Task.GetStatus().GetState() != completed {
		t.Fatalf("resubmission = created %v, %v, %v; want the stored, completed task", created, err, again.Task.GetStatus().GetState())
	}
	if _, _, err := submitter.Submit(ctx, tasks.Submission{ID: "t1", Kind: "ok", Payload: []byte(`1`)}); !errors.Is(err, api.ErrAlreadyExists) {
		t.Fatalf("another task under a taken id: %v, want ErrAlreadyExists", err)
	}
	// A task built for another member is refused by the one it reaches.
	if _, _, err := owner.SubmitOwned(ctx, &messages.Task{Spec: &messages.TaskSpec{Id: "x", Kind: "ok"}, Status: &messages.TaskStatus{Owner: "m3"}}, "m1", false); !errors.Is(err, api.ErrFailedPrecondition) {
		t.Fatalf("SubmitOwned of a task for m3: %v, want ErrFailedPrecondition", err)
	}
	if _, err := ownerStore.Get(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused task was stored: %v", err)
	}
}

// TestSubmitStoresPendingWhenTheOwnerIsUnreachable: the submitter stores
// the task itself, pending and owned by its owner, for the owner to claim.
func TestSubmitStoresPendingWhenTheOwnerIsUnreachable(t *testing.T) {
	submitter, s := newMember(t, "m1", func(string, string) string { return "m2" },
		func(context.Context, string, *messages.Task) (store.Record, bool, error) {
			return store.Record{}, false, fmt.Errorf("%w: no route", tasks.ErrOwnerUnreachable)
		})
	ctx := testutil.Context(t, 10*time.Second)
	rec, created, err := submitter.Submit(ctx, tasks.Submission{ID: "p1", Kind: "ok", Payload: []byte(`1`)})
	if err != nil || !created {
		t.Fatalf("Submit = created %v, %v", created, err)
	}
	stored, err := s.Get(ctx, "p1")
	if err != nil || stored.Revision != rec.Revision || stored.Task.GetStatus().GetState() != pending || stored.Task.GetStatus().GetOwner() != "m2" || stored.Task.GetStatus().GetEpoch() != 0 {
		t.Fatalf("stored %v, %v; want pending for m2, unclaimed", stored.Task.GetStatus(), err)
	}
}
