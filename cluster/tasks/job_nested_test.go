package tasks_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
)

// TestNestedTreeEnds: the chaos campaign's tree on one member, without
// faults. A child job whose tasks always fail spends its budget and
// fails; its parent restarts the subtree (fresh budgets) until its own
// budget is spent, then fails: every task of the tree ends (the
// campaign's drain found tasks held for their job forever).
func TestNestedTreeEnds(t *testing.T) {
	m, st := startManager(t, "m1", filepath.Join(t.TempDir(), "tasks.db"), func(*tasks.Config) {})
	ctx := testutil.Context(t, 60*time.Second)
	shutdown := 200 * time.Millisecond
	for _, d := range []tasks.JobDeclaration{
		{ID: "nt", Strategy: "one_for_all", MaxRestarts: 2, Shutdown: &shutdown},
		{ID: "nt-a", Parent: "nt", Stage: 0, Strategy: "one_for_one", MaxRestarts: 1, Shutdown: &shutdown},
		{ID: "nt-b", Parent: "nt", Stage: 1, Strategy: "one_for_all", Shutdown: &shutdown},
	} {
		if _, _, err := m.DeclareJob(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	fail := `{"fail_on":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20],"after_ms":20}`
	for _, sub := range []tasks.Submission{
		{ID: "nt-a0", Kind: "scripted", Payload: []byte(fail), JobID: "nt-a"},
		{ID: "nt-a1", Kind: "scripted", Payload: []byte(fail), JobID: "nt-a"},
		{ID: "nt-b0", Kind: "scripted", Payload: []byte(`{}`), JobID: "nt-b"},
		{ID: "nt-b1", Kind: "scripted", Payload: []byte(`{}`), JobID: "nt-b"},
		{ID: "nt-t", Kind: "scripted", Payload: []byte(`{}`), JobID: "nt", JobStage: 2},
	} {
		if _, _, err := m.Submit(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 45*time.Second, func() (bool, string) {
		var why string
		for _, id := range []string{"nt-a0", "nt-a1", "nt-b0", "nt-b1", "nt-t"} {
			rec, err := st.Get(ctx, id)
			if err != nil || !store.Terminal(rec.Task.GetStatus().GetState()) {
				why += fmt.Sprintf("%s: %v hold=%s %v; ", id, rec.Task.GetStatus().GetState(), rec.Task.GetStatus().GetJobHold(), err)
			}
		}
		if why == "" {
			return true, ""
		}
		for _, id := range []string{"nt", "nt-a", "nt-b"} {
			jr, err := st.GetJob(ctx, id)
			why += fmt.Sprintf("job %s: %v %v; ", id, jr.Job.GetRun(), err)
		}
		return false, why
	})
	jr, err := st.GetJob(ctx, "nt")
	if err != nil || jr.Job.GetRun().GetEnd() != "failed" || len(jr.Job.GetRestarts()) != 2 {
		t.Fatalf("root job %v (%d restarts), %v; want failed after 2 restarts", jr.Job.GetRun(), len(jr.Job.GetRestarts()), err)
	}
	rec, _ := st.Get(ctx, "nt-b0")
	if rec.Task.GetStatus().GetState() != messages.TaskState_TASK_STATE_CANCELLED {
		t.Fatalf("nt-b0: %v; want cancelled with the tree", rec.Task.GetStatus())
	}
}
