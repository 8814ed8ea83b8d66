package supervisor

import (
	"slices"
	"testing"
)

func swept(strays ...JobChild) JobEvent { return JobEvent{Kind: EventSwept, Strays: strays} }

// TestJobShutdownSweeps: a job that shuts down (stopped, failed, shut down
// by auto_shutdown) asks, once that decision is persisted, for the live
// children the store shows; it ends only after the answer, and every stray
// in it that the shutdown does not terminate already (a task that joined
// as the job began to shut down, unheard of yet; a child job it took for
// completed that runs again) is terminated too. The chaos campaign found a
// child of a stopped job running on (issue #20): the job had not heard of
// it.
func TestJobShutdownSweeps(t *testing.T) {
	t.Run("a stray is terminated before the job ends", func(t *testing.T) {
		m := newJob(t, JobConfig{Strategy: OneForOne})
		runJob(t, m, []jobStep{
			{stopEv(), []string{"sweep", "terminate c final=cancelled"}, PhaseShuttingDown},
			{terminated("c"), []string{"terminate b final=cancelled"}, PhaseShuttingDown},
			{terminated("b"), []string{"terminate a final=cancelled"}, PhaseShuttingDown},
			{terminated("a"), nil, PhaseShuttingDown}, // the sweep's answer first
			// a: terminated since the listing; x: never heard of.
			{swept(JobChild{ID: "a", Restart: Transient}, JobChild{ID: "x", Stage: 5, Restart: Transient}), []string{"terminate x final=cancelled"}, PhaseShuttingDown},
			{terminated("x"), []string{"finished"}, PhaseDone},
		})
		if got := statuses(m); got != "a=cancelled b=cancelled c=cancelled x=cancelled" {
			t.Fatalf("children: %s", got)
		}
		if m.State().Unswept || m.State().End != EndStopped {
			t.Fatalf("state: %+v", m.State())
		}
	})
	t.Run("the sweep's answer may come first", func(t *testing.T) {
		m := newJob(t, JobConfig{Strategy: OneForOne}, JobChild{ID: "a", Restart: Transient})
		runJob(t, m, []jobStep{
			{stopEv(), []string{"sweep", "terminate a final=cancelled"}, PhaseShuttingDown},
			{swept(JobChild{ID: "x", Restart: Transient}), nil, PhaseShuttingDown},
			{terminated("a"), []string{"terminate x final=cancelled"}, PhaseShuttingDown},
			{terminated("x"), []string{"finished"}, PhaseDone},
		})
	})
	t.Run("a child that joins while the job waits for the sweep goes too", func(t *testing.T) {
		m := newJob(t, JobConfig{Strategy: OneForOne}, JobChild{ID: "a", Restart: Transient})
		runJob(t, m, []jobStep{
			{stopEv(), []string{"sweep", "terminate a final=cancelled"}, PhaseShuttingDown},
			{terminated("a"), nil, PhaseShuttingDown},
			{JobEvent{Kind: EventAdded, Child: JobChild{ID: "late"}}, nil, PhaseShuttingDown},
			{swept(), []string{"terminate late final=cancelled"}, PhaseShuttingDown},
			{terminated("late"), []string{"finished"}, PhaseDone},
		})
	})
	t.Run("a task taken for stopped that runs is terminated", func(t *testing.T) {
		// A new owner resumed a one_for_all restart of round 2 from its
		// record (b0 and b1 held, to start), while the previous owner had
		// started b1 already; a stop (its parent restarts) comes before
		// any answer. b0's start may be in flight: it is terminated; b1,
		// stopped as this machine sees it, runs as stored: the sweep says
		// so, and it is terminated too. The campaign found b1 running on
		// under its stopped job.
		st := JobState{Phase: PhaseRestarting, Round: 2,
			Children: []JobChild{{ID: "b0", Restart: Transient, Status: ChildStopped}, {ID: "b1", Stage: 1, Restart: Transient, Status: ChildStopped}},
			Start:    []string{"b0", "b1"}}
		m, err := NewJobMachine(JobConfig{ID: "j", Strategy: OneForAll, Budget: budget3, HasParent: true}, st)
		if err != nil {
			t.Fatal(err)
		}
		stop := JobEvent{Kind: EventStop, Final: FinalNone, Reason: "its parent restarts"}
		runJob(t, m, []jobStep{
			{stop, []string{"sweep", "terminate b0 final=none"}, PhaseShuttingDown},
			{JobEvent{Kind: EventExited, Child: JobChild{ID: "b0", Round: 3}, Exit: ExitTerminated}, nil, PhaseShuttingDown},
			{swept(JobChild{ID: "b0", Status: ChildStopped}, JobChild{ID: "b1", Stage: 1, Round: 2, Status: ChildRunning}), []string{"terminate b1 final=none"}, PhaseShuttingDown},
			{JobEvent{Kind: EventExited, Child: JobChild{ID: "b1", Round: 3}, Exit: ExitTerminated}, []string{"notify_parent cancelled", "finished"}, PhaseDone},
		})
		if got := statuses(m); got != "b0=stopped b1=stopped" {
			t.Fatalf("children: %s", got)
		}
	})
	t.Run("a held task the sweep finds stays as it is", func(t *testing.T) {
		m := newJob(t, JobConfig{Strategy: OneForAll, Budget: budget3}, JobChild{ID: "a", Restart: Transient})
		runJob(t, m, []jobStep{
			{JobEvent{Kind: EventStop, Final: FinalNone, Reason: "its parent restarts"}, []string{"sweep", "terminate a final=none"}, PhaseShuttingDown},
			{JobEvent{Kind: EventExited, Child: JobChild{ID: "a", Round: 1}, Exit: ExitTerminated}, nil, PhaseShuttingDown},
			{swept(JobChild{ID: "a", Status: ChildStopped}), []string{"finished"}, PhaseDone},
		})
	})
	t.Run("a child job taken for completed that runs again is stopped", func(t *testing.T) {
		m := newJob(t, JobConfig{Strategy: OneForOne}, JobChild{ID: "a", Restart: Transient}, JobChild{ID: "kid", Job: true, Stage: 1, Restart: Transient})
		runJob(t, m, []jobStep{
			{completedEv("kid"), nil, PhaseRunning},
			{stopEv(), []string{"sweep", "terminate a final=cancelled"}, PhaseShuttingDown},
			{swept(JobChild{ID: "kid", Job: true, Stage: 1, Restart: Transient}), nil, PhaseShuttingDown},
			{terminated("a"), []string{"terminate kid final=cancelled"}, PhaseShuttingDown},
			{JobEvent{Kind: EventExited, Child: JobChild{ID: "kid", Job: true, Round: m.State().Round}, Exit: ExitCancelled}, []string{"finished"}, PhaseDone},
		})
	})
	t.Run("a late answer changes nothing", func(t *testing.T) {
		m := newJob(t, JobConfig{Strategy: OneForOne}, JobChild{ID: "a", Restart: Transient})
		runJob(t, m, []jobStep{
			{completedEv("a"), []string{"finished"}, PhaseDone},
			{swept(JobChild{ID: "x", Restart: Transient}), nil, PhaseDone},
		})
		if len(m.State().Children) != 1 {
			t.Fatalf("children: %s", statuses(m))
		}
	})
	t.Run("a new owner asks again", func(t *testing.T) {
		m := newJob(t, JobConfig{Strategy: OneForOne}, JobChild{ID: "a", Restart: Transient})
		runJob(t, m, []jobStep{{stopEv(), []string{"sweep", "terminate a final=cancelled"}, PhaseShuttingDown}})
		m2, err := NewJobMachine(m.Config(), m.State())
		if err != nil {
			t.Fatal(err)
		}
		if got := effectsOf(m2.Resume(jt0)); !slices.Equal(got, []string{"sweep", "terminate a final=cancelled"}) {
			t.Fatalf("resume: %q", got)
		}
	})
}

// TestJobStopOfACompletedChildJobSweeps: a parent stops a child job that
// completed (it took it for running again, or stops it with its subtree):
// the child job sweeps its own subtree, where a task may have joined it
// that it has not heard of yet, and ends stopped.
func TestJobStopOfACompletedChildJobSweeps(t *testing.T) {
	m := newJob(t, JobConfig{Strategy: OneForOne, HasParent: true}, JobChild{ID: "a", Restart: Transient})
	runJob(t, m, []jobStep{
		{completedEv("a"), []string{"notify_parent completed", "finished"}, PhaseDone},
		{stopEv(), []string{"sweep"}, PhaseShuttingDown},
		{swept(JobChild{ID: "b1", Stage: 1, Restart: Transient}), []string{"terminate b1 final=cancelled"}, PhaseShuttingDown},
		{terminated("b1"), []string{"notify_parent cancelled", "finished"}, PhaseDone},
	})
	if st := m.State(); st.End != EndStopped || statuses(m) != "a=completed b1=cancelled" {
		t.Fatalf("end %s, children %s", st.End, statuses(m))
	}
	// Stopped with nothing found, it ends stopped all the same; a stop
	// that leaves children stopped for a group restart (final none) ends
	// it as it is.
	empty := newJob(t, JobConfig{Strategy: OneForOne, HasParent: true}, JobChild{ID: "a", Restart: Transient})
	runJob(t, empty, []jobStep{
		{completedEv("a"), []string{"notify_parent completed", "finished"}, PhaseDone},
		{JobEvent{Kind: EventStop, Reason: "restart", Final: FinalNone}, []string{"notify_parent completed", "finished"}, PhaseDone},
		{stopEv(), []string{"notify_parent cancelled", "finished"}, PhaseDone},
	})
}

// TestJobStopWhileAGiveUpWaitsForItsSweep: a child job gives up (its
// children left stopped for its parent) and, while it waits for its
// sweep's answer, its parent stops it: the stop makes the stopped
// children final. The chaos campaign found the stop dropped there, and
// the failed task held for good, waiting for a decision that never came.
func TestJobStopWhileAGiveUpWaitsForItsSweep(t *testing.T) {
	m := newJob(t, JobConfig{Strategy: OneForOne, HasParent: true}, JobChild{ID: "a", Restart: Transient})
	runJob(t, m, []jobStep{
		{failedEv("a"), []string{"sweep"}, PhaseShuttingDown},
		{stopEv(), []string{"terminate a final=cancelled"}, PhaseShuttingDown},
		{swept(), nil, PhaseShuttingDown},
		{terminated("a"), []string{"notify_parent failed", "finished"}, PhaseDone},
	})
	if got := statuses(m); got != "a=cancelled" {
		t.Fatalf("children: %s", got)
	}
}

// TestJobGiveUpWaitsForTheFailedTasksTerminate: a job gives up after a
// task's failure and terminates every child, the failed task last, to make
// it failed for good. That task's report of its failure, sent again, is
// not the answer to that terminate: the job must wait for the terminate
// (sent again if its answer is lost), or the task stays held for good
// under a job that has ended. The campaign found two such tasks.
func TestJobGiveUpWaitsForTheFailedTasksTerminate(t *testing.T) {
	m := newJob(t, JobConfig{Strategy: OneForOne}, JobChild{ID: "a", Restart: Transient}, JobChild{ID: "b", Stage: 1, Restart: Transient})
	runJob(t, m, []jobStep{
		{failedEv("a"), []string{"terminate b final=cancelled"}, PhaseShuttingDown},
		{terminated("b"), []string{"terminate a final=failed"}, PhaseShuttingDown},
		{failedEv("a"), nil, PhaseShuttingDown}, // its report again
		{terminated("a"), []string{"finished"}, PhaseDone},
	})
	if got := statuses(m); got != "a=failed b=cancelled" {
		t.Fatalf("children: %s", got)
	}
}
