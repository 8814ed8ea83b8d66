package tasks

import (
	"slices"
	"testing"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

// TestJobRunLeavesOutPlainChildren: the record keeps the children whose
// state their task's record does not tell, and leaves out the others.
func TestJobRunLeavesOutPlainChildren(t *testing.T) {
	st := supervisor.JobState{Phase: supervisor.PhaseRestarting, Round: 2,
		Children: []supervisor.JobChild{
			{ID: "running", Status: supervisor.ChildRunning},
			{ID: "completed", Status: supervisor.ChildCompleted},
			{ID: "restarted", Status: supervisor.ChildRunning, Round: 2},
			{ID: "caused", Status: supervisor.ChildRunning, Restarts: 1},
			{ID: "stopped", Status: supervisor.ChildStopped},
			{ID: "gone", Restart: supervisor.Temporary, Status: supervisor.ChildGone},
			{ID: "sub", Job: true, Status: supervisor.ChildRunning},
			{ID: "to-terminate", Status: supervisor.ChildRunning},
			{ID: "to-start", Status: supervisor.ChildRunning},
		},
		Terminate: []supervisor.Termination{{ID: "to-terminate"}},
		Start:     []string{"to-start"}}
	run := jobRunOf(st, "m1", 1)
	var kept []string
	for _, c := range run.GetChildren() {
		kept = append(kept, c.GetId())
	}
	want := []string{"restarted", "caused", "stopped", "gone", "sub", "to-terminate", "to-start"}
	if !slices.Equal(kept, want) || !run.GetHasChildren() {
		t.Errorf("kept %v (has_children %v), want %v", kept, run.GetHasChildren(), want)
	}
	if run := jobRunOf(supervisor.JobState{}, "m1", 1); run.GetHasChildren() {
		t.Error("a job without children says it has some")
	}
}

// TestWithTaskChildren: a job done or shutting down takes its completed
// tasks the record left out as completed children; a running one leaves
// them to reconcile (their exits decide again).
func TestWithTaskChildren(t *testing.T) {
	task := func(id string, state messages.TaskState, hold string) store.Record {
		return store.Record{Task: &messages.Task{Spec: &messages.TaskSpec{Id: id, JobId: "j"}, Status: &messages.TaskStatus{State: state, JobHold: hold}}}
	}
	tasks := []store.Record{
		task("done", messages.TaskState_TASK_STATE_COMPLETED, ""),
		task("held", messages.TaskState_TASK_STATE_RUNNING, holdFailed),
		task("runs", messages.TaskState_TASK_STATE_RUNNING, ""),
		task("known", messages.TaskState_TASK_STATE_COMPLETED, ""),
	}
	known := []supervisor.JobChild{{ID: "known", Status: supervisor.ChildStopped}}
	for _, c := range []struct {
		phase supervisor.JobPhase
		want  []string
	}{
		{supervisor.PhaseRunning, []string{"known"}},
		{supervisor.PhaseRestarting, []string{"known"}},
		{supervisor.PhaseShuttingDown, []string{"known", "done"}},
		{supervisor.PhaseDone, []string{"known", "done"}},
	} {
		st := withTaskChildren(supervisor.JobState{Phase: c.phase, Children: slices.Clone(known)}, tasks)
		var got []string
		for _, ch := range st.Children {
			got = append(got, ch.ID)
			if ch.ID == "done" && ch.Status != supervisor.ChildCompleted {
				t.Errorf("%s: done is %s, want completed", c.phase, ch.Status)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: children %v, want %v", c.phase, got, c.want)
		}
	}
}
