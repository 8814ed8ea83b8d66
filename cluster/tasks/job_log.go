package tasks

import (
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

// The log lines a job's supervisor writes once a write of its record has
// landed, so that each says what the store holds: a history checker (the
// chaos campaign, internal/chaos) rebuilds from them when a job lived, when
// it ended and which incident each restart answered. They are written
// after the check-and-set and before any effect the write decided, so a
// child's start always follows the line that says its job runs.
const (
	// logJobRestart: a restart landed; child is the child whose exit
	// caused it, child_round the round of the incarnation that exited,
	// round the restart's own round, restarts the job's restart count.
	logJobRestart = "job restart"
	// logJobResumed: a member claimed a job in the middle of an operation
	// (phase restarting or shutting_down) and carries it on.
	logJobResumed = "job supervisor resumed"
	// logJobBegan: a job that had ended runs again (its parent restarted
	// its subtree, or a child joined a completed job).
	logJobBegan = "job began again"
)

// restartNote is one restart a write records, logged once it lands.
type restartNote struct {
	child             string
	childRound, round uint64
	count             int
}

// childRound is the round of child's incarnation as run holds it (0 if
// run does not know the child).
func childRound(run *messages.JobRun, child string) uint64 {
	for _, c := range run.GetChildren() {
		if c.GetId() == child {
			return c.GetRound()
		}
	}
	return 0
}

// logLanded writes the log lines of a write that moved the job's record
// from prev to next (see logJobRestart).
func (a *jobActor) logLanded(prev, next store.JobRecord) {
	was, run := prev.Job.GetRun(), next.Job.GetRun()
	done := supervisor.PhaseDone.String()
	switch {
	case a.resume && run.GetPhase() != done && run.GetPhase() != supervisor.PhaseRunning.String():
		a.m.log.Info(logJobResumed, "job", a.id, "phase", run.GetPhase(), "round", run.GetRound(), "epoch", run.GetEpoch())
	case was.GetPhase() == done && run.GetPhase() != done && run.GetPhase() != supervisor.PhaseShuttingDown.String():
		// (Shutting down after its end is a stop making its held children
		// final: it does not run again.)
		a.m.log.Info(logJobBegan, "job", a.id, "phase", run.GetPhase(), "round", run.GetRound(), "epoch", run.GetEpoch())
	}
	for _, n := range a.notes {
		a.m.log.Info(logJobRestart, "job", a.id, "child", n.child, "child_round", n.childRound, "round", n.round, "restarts", n.count, "epoch", run.GetEpoch())
	}
	a.notes = nil
}
