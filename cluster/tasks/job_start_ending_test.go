package tasks

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/supervisor"
)

// sweepGate holds the sweep of job's supervisor (its listing of job's
// child jobs once job's record shows it shutting down) while armed, until
// released. Loads of the job before its stop (a tick of AdoptJobs spawns
// and retires its actor now and then) pass: counting the listings instead
// made the stop's own load wait now and then.
type sweepGate struct {
	store.Store
	job     string
	armed   atomic.Bool
	release chan struct{}
}

func (s *sweepGate) ListChildJobs(ctx context.Context, parent string) ([]store.JobRecord, error) {
	if parent == s.job && s.armed.Load() {
		jr, err := s.Store.GetJob(ctx, parent)
		if err == nil && jr.Job.GetRun().GetPhase() == supervisor.PhaseShuttingDown.String() {
			select {
			case <-s.release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	return s.Store.ListChildJobs(ctx, parent)
}

// TestChildJobStartedWhileItStillEnds: a parent's group restart stops a
// child job (final none) and starts it again once it heard the child job
// end; a start that reaches the child job while it is still shutting down
// (a report of an earlier end came late, say) is ignored there, since only
// a job that has ended starts again. The parent must not take the child
// job for started then: it sends the start again later. The campaign found
// a child job's tasks held for good after the old code answered such a
// start at once.
func TestChildJobStartedWhileItStillEnds(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	gate := &sweepGate{Store: openJobTestStore(t), job: "kid", release: make(chan struct{})}
	m := startJobTestManager(t, ctx, gate, "m1")
	for _, d := range []JobDeclaration{{ID: "root"}, {ID: "kid", Parent: "root"}} {
		if _, _, err := m.DeclareJob(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	gate.armed.Store(true)
	stop := supervisor.JobEvent{Kind: supervisor.EventStop, Final: supervisor.FinalNone, Reason: "its parent restarts"}
	if err := m.routeJob(ctx, "kid", stop); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		jr, err := m.store.GetJob(ctx, "kid")
		phase := jr.Job.GetRun().GetPhase()
		return err == nil && phase == supervisor.PhaseShuttingDown.String(), "the child job is " + phase
	})
	if m.startChildJob(ctx, "root", "kid", 1) {
		t.Fatal("a start that reached the child job while it was still ending was answered as done")
	}
	gate.armed.Store(false)
	close(gate.release)
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		jr, err := m.store.GetJob(ctx, "kid")
		return err == nil && jobEnded(jr), "the child job has not ended: " + jr.Job.GetRun().GetPhase()
	})
	if !m.startChildJob(ctx, "root", "kid", 1) {
		t.Fatal("the start sent again, once the child job had ended, did not start it")
	}
	jr, err := m.store.GetJob(ctx, "kid")
	if err != nil || jobRunEnd(jr.Job) != supervisor.EndNone {
		t.Fatalf("the child job is %q after its start (%v)", jr.Job.GetRun().GetPhase(), err)
	}
	if pr := jr.Job.GetRun().GetParentRound(); pr != 1 {
		t.Fatalf("the child job's record shows its parent's round %d; want 1", pr)
	}
	// The same start again (its answer was lost, say) is answered, and
	// starts nothing more.
	round := jr.Job.GetRun().GetRound()
	if !m.startChildJob(ctx, "root", "kid", 1) {
		t.Fatal("a start of a round the child job applied already was not answered as done")
	}
	if jr, err := m.store.GetJob(ctx, "kid"); err != nil || jr.Job.GetRun().GetRound() != round {
		t.Fatalf("a start of a round applied already started the child job again: round %d, was %d (%v)", jr.Job.GetRun().GetRound(), round, err)
	}
	// A new owner of the parent resumes the round's restart from its
	// record: it stops the child job again, and starts it again in the
	// same round. The child job must run again (the campaign found one
	// that took the start as applied already, its tasks held for good).
	if err := m.routeJob(ctx, "kid", stop); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		jr, err := m.store.GetJob(ctx, "kid")
		return err == nil && jobEnded(jr), "the child job has not ended: " + jr.Job.GetRun().GetPhase()
	})
	if !m.startChildJob(ctx, "root", "kid", 1) {
		t.Fatal("the start of its round, sent again after the child job was stopped again, did not start it")
	}
	if jr, err := m.store.GetJob(ctx, "kid"); err != nil || jobRunEnd(jr.Job) != supervisor.EndNone || jr.Job.GetRun().GetRound() <= round {
		t.Fatalf("the child job is %q in round %d (was %d) after the start of its round again (%v)", jr.Job.GetRun().GetPhase(), jr.Job.GetRun().GetRound(), round, err)
	}
}
