package tasks

import (
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

// TestTerminateSupersededWhileTheAttemptExits: a job's group restart
// terminates a task (round 1, left held); before its slow attempt has
// exited, the job is stopped (round 2, cancelled). The task must end
// cancelled: the second terminate is what is written. Before, it was
// answered with the first (the task written held), the job took the task
// for cancelled and ended, and the task was held for good (the campaign's
// "lost", seed 1796623584572486896: tree-00078-t).
func TestTerminateSupersededWhileTheAttemptExits(t *testing.T) {
	began, cancelled := make(chan struct{}, 1), make(chan struct{}, 1)
	k, err := actors.NewTask("linger", func(ctx actors.TaskContext, _ []byte) ([]byte, error) {
		began <- struct{}{}
		<-ctx.Done()
		cancelled <- struct{}{}
		time.Sleep(300 * time.Millisecond) // slow to honour the cancellation
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	m := startIdleManager(t, nil, k)
	ctx := testutil.Context(t, 30*time.Second)
	if _, _, err := m.Submit(ctx, Submission{ID: "j-t", Kind: "linger", JobID: "j", JobStrategy: "one_for_all"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-began: // its attempt runs (past its join gate)
	case <-ctx.Done():
		t.Fatal("the task's attempt did not begin")
	}
	first := make(chan error, 1)
	go func() {
		_, err := m.control(ctx, Control{Op: OpTerminate, ID: "j-t", Round: 1, Final: supervisor.FinalNone, Shutdown: 5 * time.Second, Reason: "its job restarts"})
		first <- err
	}()
	select {
	case <-cancelled: // the first terminate waits for the attempt to exit
	case err := <-first:
		t.Fatalf("the first terminate returned before the attempt exited: %v", err)
	case <-ctx.Done():
		t.Fatal("the first terminate did not cancel the attempt")
	}
	if _, err := m.control(ctx, Control{Op: OpTerminate, ID: "j-t", Round: 2, Final: supervisor.FinalCancelled, Shutdown: 5 * time.Second, Reason: "its job stopped"}); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	rec, err := m.store.Get(ctx, "j-t")
	if err != nil {
		t.Fatal(err)
	}
	if st := rec.Task.GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_CANCELLED {
		t.Fatalf("after its job's stop overtook a restart's terminate, the task is %s (hold %q); want cancelled", st.GetState(), st.GetJobHold())
	}
}

func TestSupersedes(t *testing.T) {
	held := Control{Op: OpTerminate, Round: 1, Final: supervisor.FinalNone}
	for _, tc := range []struct {
		c, cur Control
		want   bool
	}{
		{Control{Round: 2, Final: supervisor.FinalNone}, held, true},
		{Control{Round: 1, Final: supervisor.FinalCancelled}, held, true},
		{Control{Round: 1, Final: supervisor.FinalNone}, held, false},
		{Control{Round: 0, Final: supervisor.FinalCancelled}, held, false},
		{Control{Round: 1, Final: supervisor.FinalNone}, Control{Round: 1, Final: supervisor.FinalFailed}, false},
	} {
		if got := supersedes(tc.c, tc.cur); got != tc.want {
			t.Errorf("supersedes(%+v, %+v) = %v; want %v", tc.c, tc.cur, got, tc.want)
		}
	}
}
