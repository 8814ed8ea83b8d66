package tasks

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

func TestJobRunRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := supervisor.JobState{Phase: supervisor.PhaseRestarting, Cause: "c", Round: 3, RestartCount: 2, ParentRound: 5,
		Children: []supervisor.JobChild{{ID: "a", Restart: supervisor.Transient, Status: supervisor.ChildStopped, Restarts: 1, Round: 3},
			{ID: "sub", Job: true, Stage: 1, Restart: supervisor.Permanent, Significant: true, Status: supervisor.ChildTerminating}},
		Terminate:    []supervisor.Termination{{ID: "sub", Final: supervisor.FinalNone, Reason: "r"}},
		Start:        []string{"a", "sub"},
		RestartTimes: []time.Time{at}}
	run := jobRunOf(st, "m1", 7)
	if run.GetOwner() != "m1" || run.GetEpoch() != 7 {
		t.Fatalf("claim %s/%d", run.GetOwner(), run.GetEpoch())
	}
	back, err := jobStateOf(run)
	if err != nil || !reflect.DeepEqual(back, st) {
		t.Fatalf("round trip: %+v, %v\nwant %+v", back, err, st)
	}
	if _, err := jobStateOf(&messages.JobRun{Phase: "sleeping"}); !errors.Is(err, supervisor.ErrInvalidJobState) {
		t.Fatalf("unknown phase: %v", err)
	}
}

func TestJobEventWireRoundTrip(t *testing.T) {
	for _, ev := range []supervisor.JobEvent{
		{Kind: supervisor.EventExited, Child: supervisor.JobChild{ID: "t", Stage: 2, Restart: supervisor.Temporary, Round: 4}, Exit: supervisor.ExitFailed,
			Failure: supervisor.Failure{Cause: supervisor.CausePanic, Err: errPermanentJob("bad")}},
		{Kind: supervisor.EventStop, Final: supervisor.FinalCancelled, Reason: "by request"},
		{Kind: supervisor.EventAdded, Child: supervisor.JobChild{ID: "j", Job: true, Restart: supervisor.Transient, Significant: true}},
		{Kind: supervisor.EventStart, Child: supervisor.JobChild{ID: "j", Job: true, Round: 6}},
	} {
		got, err := jobEventOf(jobEventMsg("job", ev))
		if err != nil || got.Kind != ev.Kind || got.Exit != ev.Exit || got.Child != ev.Child || got.Final != ev.Final || got.Reason != ev.Reason ||
			got.Failure.Cause != ev.Failure.Cause || supervisor.IsPermanent(got.Failure.Err) != supervisor.IsPermanent(ev.Failure.Err) {
			t.Fatalf("%+v came back as %+v, %v", ev, got, err)
		}
	}
	if _, err := jobEventOf(&messages.JobEvent{Kind: "explode"}); err == nil {
		t.Fatal("an unknown event kind was taken")
	}
}

// TestChildJobExitCarriesItsIncarnation: a child job reports its exit to
// its parent with the round of the parent's start of the incarnation that
// exited (0 for its first), as a task reports its job round, so that the
// parent knows a late report of an earlier incarnation from news. Child
// jobs reported with no round before (math.MaxUint64, never stale), and a
// report delivered twice restarted the subtree twice.
func TestChildJobExitCarriesItsIncarnation(t *testing.T) {
	j := &messages.Job{Id: "kid", Parent: "root", Run: &messages.JobRun{ParentRound: 3}}
	for _, round := range []uint64{0, 3} {
		ev := parentExit(j, round, supervisor.JobEffect{Kind: supervisor.EffectNotifyParent, Exit: supervisor.ExitFailed, Reason: "gave up"})
		if ev.Kind != supervisor.EventExited || ev.Exit != supervisor.ExitFailed || ev.Child.ID != "kid" || !ev.Child.Job || ev.Child.Round != round {
			t.Fatalf("exit of the incarnation of round %d: %+v", round, ev)
		}
	}
	if c := jobChild(j); c.Round != 3 {
		t.Fatalf("a child job as its record shows it is of round %d; want 3", c.Round)
	}
}
