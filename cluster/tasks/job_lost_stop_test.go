package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
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
// quits, before the root is told), then the root is let to retire the actor before the actor reads
// its mailbox again. No resend (StopJob's) is involved: the one stop must
// end the job. Old code: the job stays running.
func TestJobStopRoutedToAQuittingActor(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	m := startJobTestManager(t, ctx, openJobTestStore(t), "m1")
	const job = "quitting"
	if _, _, err := m.DeclareJob(ctx, JobDeclaration{ID: job}); err != nil {
		t.Fatal(err)
	}

	var fired atomic.Bool
	quit := make(chan struct{})
	hook := func(id string, self *actor.PID, tell func()) {
		if id != job || !fired.CompareAndSwap(false, true) {
			tell()
			return
		}
		defer close(quit)
		stop := supervisor.JobEvent{Kind: supervisor.EventStop, Final: supervisor.FinalCancelled, Reason: "stopped by the test"}
		// The root routed the stop here before it took in the quit: the
		// stop is queued before the quit is sent. (Sent after it, it
		// could land behind the poison pill of a root already done with
		// the quit, where the root itself never puts an event: the stop
		// was dropped now and then under load, a flake of the test.)
		m.system.Root.Send(self, &jobMsg{id: job, ev: stop})
		tell()
		// ...and the root retires this actor before it reads its mailbox
		// again: the ping is answered once the root has handled the quit
		// sent before it.
		if _, err := m.system.Root.RequestFuture(m.root, &ping{}, 5*time.Second).Result(); err != nil {
			t.Errorf("ping the root actor: %v", err)
		}
	}
	testHookJobQuit.Store(&hook)
	t.Cleanup(func() { testHookJobQuit.Store(nil) })

	// A tick has the job's actor load the job, find nothing to do and quit.
	m.system.Root.Send(m.root, &jobMsg{id: job, ev: supervisor.JobEvent{Kind: supervisor.EventTick}})
	select {
	case <-quit:
	case <-ctx.Done():
		t.Fatal("the job's actor never quit")
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	jr, err := m.waitJobEnded(wctx, job)
	if errors.Is(err, api.ErrUnavailable) {
		got, _ := m.store.GetJob(ctx, job)
		t.Fatalf("the stop routed to the quitting actor was lost: the job is still %q (%v)", got.Job.GetRun().GetPhase(), err)
	}
	if err != nil || jr.Job.GetRun().GetEnd() != supervisor.EndStopped.String() {
		t.Fatalf("job %v, %v; want it stopped", jr.Job.GetRun(), err)
	}
}

// TestJobStopLostWithAClaimTakenOver: a job's actor on m1 takes a stop,
// but the write of its step does not land: m2 has claimed the job since.
// The actor leaves the job to m2; the stop it had taken must go on to
// whoever runs the job (here m1 again: the members have no peers, so the
// router claims the job locally). Old code: the stop was dropped with the
// write, and the job ran on.
func TestJobStopLostWithAClaimTakenOver(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	s := openJobTestStore(t)
	start := func(member string) *Manager { return startJobTestManager(t, ctx, s, member) }
	m1, m2 := start("m1"), start("m2")
	const job = "taken"
	if _, _, err := m1.DeclareJob(ctx, JobDeclaration{ID: job}); err != nil {
		t.Fatal(err)
	}
	claimedBy := func(m *Manager, child string) {
		t.Helper()
		m.system.Root.Send(m.root, &jobMsg{id: job, ev: supervisor.JobEvent{Kind: supervisor.EventAdded, Child: supervisor.JobChild{ID: child}}})
		testutil.Eventually(t, 10*time.Second, func() (bool, string) {
			jr, err := m.store.GetJob(ctx, job)
			run := jr.Job.GetRun()
			return err == nil && run.GetOwner() == m.member && hasChild(run.GetChildren(), child),
				fmt.Sprintf("run %v, %v", run, err)
		})
	}
	claimedBy(m1, "gone-1") // m1's actor stays, holding the claim it wrote
	claimedBy(m2, "gone-2") // m2 claims the job over it
	stop := supervisor.JobEvent{Kind: supervisor.EventStop, Final: supervisor.FinalCancelled, Reason: "stopped by the test"}
	m1.system.Root.Send(m1.root, &jobMsg{id: job, ev: stop})
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	jr, err := m1.waitJobEnded(wctx, job)
	if errors.Is(err, api.ErrUnavailable) {
		got, _ := m1.store.GetJob(ctx, job)
		t.Fatalf("the stop taken by m1's actor as m2 claimed the job was lost: the job is still %s (%v)", got.Job.GetRun(), err)
	}
	if err != nil || jr.Job.GetRun().GetEnd() != supervisor.EndStopped.String() {
		t.Fatalf("job %v, %v; want it stopped", jr.Job.GetRun(), err)
	}
}

func hasChild(cs []*messages.JobChildRun, id string) bool {
	for _, c := range cs {
		if c.GetId() == id {
			return true
		}
	}
	return false
}

// openJobTestStore opens a store in t's temporary directory, closed when t
// ends (after the managers on it, registered later, have stopped).
func openJobTestStore(t *testing.T) store.Store {
	t.Helper()
	s, err := boltstore.Open(boltstore.DefaultConfig(filepath.Join(t.TempDir(), "tasks.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// startJobTestManager starts member's manager on s, stopped when t ends.
func startJobTestManager(t *testing.T, ctx context.Context, s store.Store, member string) *Manager {
	t.Helper()
	return startJobTestManagerLogging(t, ctx, s, member, testutil.Logger(t, slog.LevelDebug).With("member", member))
}

// startJobTestManagerLogging is startJobTestManager with its logger.
func startJobTestManagerLogging(t *testing.T, ctx context.Context, s store.Store, member string, log *slog.Logger) *Manager {
	t.Helper()
	cfg := DefaultConfig(member)
	cfg.Store, cfg.Registry, cfg.Logger = s, actors.NewRegistry(), log
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
	})
	return m
}
