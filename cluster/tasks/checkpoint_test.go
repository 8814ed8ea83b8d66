package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

// stepsIn is the input of the checkpointing kinds: count to N, one
// checkpoint per step; FailAt fails attempt 1 once it reaches that step.
type stepsIn struct {
	N      int `json:"n"`
	FailAt int `json:"fail_at,omitempty"`
}

// checkpointRig runs a manager over a bolt store with kinds that
// checkpoint, and records where each attempt started and what the
// fenced attempts heard.
type checkpointRig struct {
	m       *tasks.Manager
	store   store.Store
	mu      sync.Mutex
	from    map[int]int // the step each attempt started at
	heard   chan error  // what a late attempt's checkpoint answered
	release chan struct{}
	saved   chan struct{} // the claim test's handler saved its first value
}

func newCheckpointRig(t *testing.T) *checkpointRig {
	t.Helper()
	r := &checkpointRig{from: map[int]int{}, heard: make(chan error, 4), release: make(chan struct{}), saved: make(chan struct{}, 1)}
	fast := actors.WithSettings(actors.Settings{
		MaxAttempts:    3,
		Backoff:        supervisor.Backoff{Initial: time.Millisecond, Multiplier: 2, Max: 10 * time.Millisecond},
		AttemptTimeout: time.Minute,
	})
	reg := actors.NewRegistry()
	for _, k := range []*actors.TaskKind{
		actors.MustTask("steps", r.steps, fast),
		// late: attempt 1 ignores its time-out, then checkpoints when released.
		actors.MustTask("late", func(ctx actors.TaskContext, _ struct{}) (int, error) {
			if ctx.Attempt() == 1 {
				<-r.release
				r.heard <- actors.SaveCheckpoint(ctx, 99)
				return 0, nil
			}
			v, _, err := actors.Resume[int](ctx)
			return v, err
		}, fast, actors.WithAttemptTimeout(50*time.Millisecond)),
		actors.MustTask("big", func(ctx actors.TaskContext, n int) (int, error) {
			return 0, actors.Permanent(ctx.Checkpoint(strings.Repeat("x", n)))
		}, fast),
		// blocked: attempt 1 saves 5 and waits to be stopped; later
		// attempts return the checkpoint they start with.
		actors.MustTask("blocked", func(ctx actors.TaskContext, _ struct{}) (int, error) {
			if ctx.Attempt() == 1 {
				if err := actors.SaveCheckpoint(ctx, 5); err != nil {
					return 0, err
				}
				<-ctx.Done()
				return 0, ctx.Err()
			}
			v, _, err := actors.Resume[int](ctx)
			return v, err
		}, fast),
		// claimed: saves, waits until the test claims the task for another
		// member, saves again and reports what it heard.
		actors.MustTask("claimed", func(ctx actors.TaskContext, _ struct{}) (int, error) {
			if err := ctx.Checkpoint(1); err != nil {
				return 0, err
			}
			r.saved <- struct{}{}
			<-r.release
			r.heard <- ctx.Checkpoint(2)
			<-ctx.Done()
			return 0, ctx.Err()
		}, fast),
	} {
		if err := reg.RegisterTask(k); err != nil {
			t.Fatal(err)
		}
	}
	s, err := boltstore.Open(boltstore.DefaultConfig(filepath.Join(t.TempDir(), "tasks.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	r.store = s
	cfg := tasks.DefaultConfig("m1")
	cfg.Store, cfg.Registry, cfg.RecoverAll = s, reg, true
	cfg.Logger = testutil.Logger(t, slog.LevelInfo)
	r.m = startConfigured(t, cfg)
	return r
}

// steps counts from its checkpoint to in.N, saving each step.
func (r *checkpointRig) steps(ctx actors.TaskContext, in stepsIn) (int, error) {
	step, _, err := actors.Resume[int](ctx)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.from[ctx.Attempt()] = step
	r.mu.Unlock()
	for ; step < in.N; step++ {
		if ctx.Attempt() == 1 && step == in.FailAt && in.FailAt > 0 {
			return 0, fmt.Errorf("failing at step %d", step)
		}
		if err := actors.SaveCheckpoint(ctx, step+1); err != nil {
			return 0, err
		}
	}
	return step, nil
}

// TestCheckpointResumesAfterError: attempt 1 of a 20-step task fails at
// step 7 after checkpointing steps 1 to 7; attempt 2 starts at step 7, not
// 0, and the status says when the last checkpoint was saved, by which
// attempt, and its size.
func TestCheckpointResumesAfterError(t *testing.T) {
	r := newCheckpointRig(t)
	st := finished(t, r.m, "steps", `{"n":20,"fail_at":7}`)
	if st.GetState() != messages.TaskState_TASK_STATE_COMPLETED || string(st.GetResult()) != "20" {
		t.Fatalf("task ended %s with %q (%s)", st.GetState(), st.GetResult(), st.GetError())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.from[1] != 0 || r.from[2] != 7 {
		t.Fatalf("attempts started at steps %v; want attempt 1 at 0, attempt 2 at 7", r.from)
	}
	if string(st.GetCheckpoint()) != "20" || st.GetCheckpointAttempt() != 2 || st.GetCheckpointAt() == nil {
		t.Fatalf("checkpoint %q by attempt %d at %v; want 20 by attempt 2", st.GetCheckpoint(), st.GetCheckpointAttempt(), st.GetCheckpointAt())
	}
	s := api.FromTask(&messages.Task{Spec: &messages.TaskSpec{Id: "x"}, Status: st}, 1)
	if s.CheckpointBytes != 2 || s.CheckpointAt == nil || s.CheckpointAttempt != 2 {
		t.Fatalf("status shows checkpoint of %d bytes at %v by attempt %d", s.CheckpointBytes, s.CheckpointAt, s.CheckpointAttempt)
	}
}

// TestCheckpointOfEndedAttemptFenced: an attempt that outlived its
// time-out (abandoned; attempt 2 completed meanwhile) cannot save: it
// hears ErrFenced and the task's record keeps no trace of its value.
func TestCheckpointOfEndedAttemptFenced(t *testing.T) {
	r := newCheckpointRig(t)
	st := finished(t, r.m, "late", `{}`)
	if st.GetState() != messages.TaskState_TASK_STATE_COMPLETED {
		t.Fatalf("task ended %s: %s", st.GetState(), st.GetError())
	}
	close(r.release)
	select {
	case err := <-r.heard:
		if !errors.Is(err, actors.ErrFenced) {
			t.Fatalf("the abandoned attempt's checkpoint answered %v; want ErrFenced", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the abandoned attempt's checkpoint never answered")
	}
	rec, err := r.store.Get(context.Background(), idOf(t, r.m, "late"))
	if err != nil {
		t.Fatal(err)
	}
	if cp := rec.Task.GetStatus().GetCheckpoint(); len(cp) != 0 {
		t.Fatalf("the fenced value was stored: %q", cp)
	}
}

// TestCheckpointOfLostClaimFenced: once another member claimed the task
// (a higher epoch in the store), the attempt's next checkpoint hears
// ErrFenced, and the record keeps the new owner's claim and the value
// saved before it.
func TestCheckpointOfLostClaimFenced(t *testing.T) {
	r := newCheckpointRig(t)
	ctx := testutil.Context(t, 30*time.Second)
	rec, _, err := r.m.Submit(ctx, tasks.Submission{Kind: "claimed", Payload: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	id := rec.Task.GetSpec().GetId()
	<-r.saved
	// Another member's claim, as its adoption writes it.
	cur, err := r.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	cur.Task.Status.Owner, cur.Task.Status.Epoch = "m2", cur.Task.Status.Epoch+1
	if _, err := r.store.Update(ctx, cur.Task, cur.Revision); err != nil {
		t.Fatal(err)
	}
	close(r.release)
	if err := <-r.heard; !errors.Is(err, actors.ErrFenced) {
		t.Fatalf("checkpoint after the claim was lost answered %v; want ErrFenced", err)
	}
	after, err := r.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st := after.Task.GetStatus(); st.GetOwner() != "m2" || string(st.GetCheckpoint()) != "1" {
		t.Fatalf("record owned by %s with checkpoint %q; want m2's claim and the value saved before it", st.GetOwner(), st.GetCheckpoint())
	}
}

// TestCheckpointTooLarge: a value one byte over the bound is refused with
// an error wrapping ErrInvalidArgument and ErrCheckpointTooLarge, and
// nothing is stored; the bound itself is taken.
func TestCheckpointTooLarge(t *testing.T) {
	r := newCheckpointRig(t)
	// A JSON string of n x's is n+2 bytes.
	over := finished(t, r.m, "big", fmt.Sprint(tasks.MaxCheckpointBytes-1))
	if over.GetState() != messages.TaskState_TASK_STATE_FAILED || !strings.Contains(over.GetError(), actors.ErrCheckpointTooLarge.Error()) ||
		!strings.Contains(over.GetError(), api.ErrInvalidArgument.Error()) || len(over.GetCheckpoint()) != 0 {
		t.Fatalf("over the bound: %s, %q, checkpoint of %d bytes", over.GetState(), over.GetError(), len(over.GetCheckpoint()))
	}
	at := finished(t, r.m, "big", fmt.Sprint(tasks.MaxCheckpointBytes-2))
	if at.GetState() != messages.TaskState_TASK_STATE_COMPLETED || len(at.GetCheckpoint()) != tasks.MaxCheckpointBytes {
		t.Fatalf("at the bound: %s, %q, checkpoint of %d bytes", at.GetState(), at.GetError(), len(at.GetCheckpoint()))
	}
}

// idOf is the id of the one task of kind.
func idOf(t *testing.T, m *tasks.Manager, kind string) string {
	t.Helper()
	recs, err := m.Find(context.Background(), store.Filter{Kind: kind})
	if err != nil || len(recs) != 1 {
		t.Fatalf("tasks of kind %s: %d, %v", kind, len(recs), err)
	}
	return recs[0].Task.GetSpec().GetId()
}

// TestCheckpointSurvivesRestart: a task restarted by request while its
// first attempt runs starts its second attempt with the first one's
// checkpoint.
func TestCheckpointSurvivesRestart(t *testing.T) {
	r := newCheckpointRig(t)
	ctx := testutil.Context(t, 30*time.Second)
	rec, _, err := r.m.Submit(ctx, tasks.Submission{Kind: "blocked", Payload: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	id := rec.Task.GetSpec().GetId()
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		rec, err := r.store.Get(ctx, id)
		return err == nil && string(rec.Task.GetStatus().GetCheckpoint()) == "5", fmt.Sprintf("%v, %v", rec.Task.GetStatus(), err)
	})
	if _, err := r.m.Restart(ctx, id, "", "r-1"); err != nil {
		t.Fatal(err)
	}
	for !store.Terminal(rec.Task.GetStatus().GetState()) {
		if rec, err = r.m.Wait(ctx, id, rec.Revision); err != nil {
			t.Fatal(err)
		}
	}
	if st := rec.Task.GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_COMPLETED || string(st.GetResult()) != "5" || st.GetAttempts() != 2 {
		t.Fatalf("after the restart: %s with %q after %d attempts; want attempt 2 to start from checkpoint 5", st.GetState(), st.GetResult(), st.GetAttempts())
	}
}
