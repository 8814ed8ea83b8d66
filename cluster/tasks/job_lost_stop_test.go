package tasks

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/supervisor"
)

// TestJobStopRoutedToAQuittingActor: the root cause of the "lost stop"
// (CI hung 14 minutes on DELETE /v1/jobs/{id}). A job actor with nothing
// to do quits (jobQuit to the root actor); an event the root routed to it
// before it took in the quit waits in the old actor's mailbox. The root
// stopped the old actor with a system message, which protoactor handles
// before any user message, and the user messages of a stopped actor are
// dropped: the stop vanished. Here the stop is put in the quitting
// actor's mailbox as the root puts it there (the hook runs as the actor
// quits), then the root is let to retire the actor before the actor reads
// its mailbox again. No resend (StopJob's) is involved: the one stop must
// end the job. Old code: the job stays running.
func TestJobStopRoutedToAQuittingActor(t *testing.T) {
	s, err := boltstore.Open(boltstore.DefaultConfig(filepath.Join(t.TempDir(), "tasks.db")))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig("m1")
	cfg.Store, cfg.Registry, cfg.Logger = s, actors.NewRegistry(), testutil.Logger(t, slog.LevelDebug)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t, 30*time.Second)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
		_ = s.Close()
	})
	const job = "quitting"
	if _, _, err := m.DeclareJob(ctx, JobDeclaration{ID: job}); err != nil {
		t.Fatal(err)
	}

	var once sync.Once
	hooked := make(chan struct{})
	testHookJobQuit = func(id string, self *actor.PID) {
		if id != job {
			return
		}
		once.Do(func() {
			defer close(hooked)
			stop := supervisor.JobEvent{Kind: supervisor.EventStop, Final: supervisor.FinalCancelled, Reason: "stopped by the test"}
			// The root routed the stop here before it took in the quit...
			m.system.Root.Send(self, &jobMsg{id: job, ev: stop})
			// ...and retires this actor before it reads its mailbox again:
			// the ping is answered once the root has handled the quit sent
			// before it.
			if _, err := m.system.Root.RequestFuture(m.root, &ping{}, 5*time.Second).Result(); err != nil {
				t.Errorf("ping the root actor: %v", err)
			}
		})
	}
	t.Cleanup(func() { testHookJobQuit = nil })

	// A tick has the job's actor load the job, find nothing to do and quit.
	m.system.Root.Send(m.root, &jobMsg{id: job, ev: supervisor.JobEvent{Kind: supervisor.EventTick}})
	select {
	case <-hooked:
	case <-ctx.Done():
		t.Fatal("the job's actor never quit")
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	jr, err := m.waitJobEnded(wctx, job)
	if errors.Is(err, api.ErrUnavailable) {
		got, _ := m.store.GetJob(ctx, job)
		t.Fatalf("the stop routed to the quitting actor was lost: the job is still %s (%v)", got.Job.GetRun().GetPhase(), err)
	}
	if err != nil || jr.Job.GetRun().GetEnd() != supervisor.EndStopped.String() {
		t.Fatalf("job %v, %v; want it stopped", jr.Job.GetRun(), err)
	}
}
