package tasks_test

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
)

// TestJobStartSentAgainInItsRound: a job's start of a round that reaches
// the task again after the attempt it began has failed (the task held for
// its job) is applied once: it answers success and runs nothing. The
// double start seen when a survivor resumed a dead owner's restart (the
// round's start reached the adopted task twice, 10 ms apart: two attempts
// and two job restarts counted in one round). Here the start of round 1 is
// sent again, as another member's job supervisor sends it
// (messages.TerminateTask with start), while the job, out of budget,
// terminates a lingering sibling before the held task.
func TestJobStartSentAgainInItsRound(t *testing.T) {
	sys := tasks.NewActorSystem(testutil.Logger(t, slog.LevelInfo))
	m, st := startManager(t, "m1", filepath.Join(t.TempDir(), "tasks.db"), func(cfg *tasks.Config) { cfg.System = sys })
	ctx := testutil.Context(t, 30*time.Second)
	job := "rs"
	for _, sub := range []tasks.Submission{
		scripted(job, "h", 1, 1, `{"linger_ms":2000}`), // slow to exit: the give-up waits for it before f
		scripted(job, "f", 0, 1, `{"fail_on":[1,2]}`),
	} {
		if _, _, err := m.Submit(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	// f fails, the job restarts both (round 1): f fails again and waits,
	// held, while the job, its budget spent, terminates h first.
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		rec, err := st.Get(ctx, job+"-f")
		s := rec.Task.GetStatus()
		return err == nil && s.GetJobHold() == "failed" && s.GetJobRound() == 1 && slices.Contains(script.of(job), "start rs-h#2"),
			fmt.Sprintf("f: %v, %v; events %q", s, err, script.of(job))
	})
	msg := &messages.TerminateTask{Id: job + "-f", Reason: "job rs started it again (round 1)", Round: 1, Start: true, RequestId: "job:rs#1"}
	res, err := sys.Root.RequestFuture(actor.NewPID(sys.Address(), tasks.RootName("m1")), msg, 10*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	if r := res.(*messages.TerminateTaskReply); r.GetCode() != messages.ErrorCode_ERROR_CODE_UNSPECIFIED {
		t.Fatalf("the start of round 1 sent again: %v; want success", r)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		jr, err := st.GetJob(ctx, job)
		return err == nil && jr.Job.GetRun().GetPhase() == "done", fmt.Sprintf("job run %v, %v", jr.Job.GetRun(), err)
	})
	rec, err := st.Get(ctx, job+"-f")
	if s := rec.Task.GetStatus(); err != nil || s.GetState() != messages.TaskState_TASK_STATE_FAILED || s.GetAttempts() != 2 || s.GetJobRestarts() != 1 {
		t.Fatalf("f: %v, %v; want failed after 2 attempts and one job restart (events %q)", s, err, script.of(job))
	}
}
