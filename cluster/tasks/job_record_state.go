package tasks

import (
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

// RecordState is a job's state as far as its record alone tells, in the
// names `granary job status` uses (pending, running, completed, failed,
// cancelled): what a list of jobs shows without reading every job's
// tasks. The record's supervisor run says when every child has exited
// normally (completed); a record whose supervisor has no child yet is
// pending.
func RecordState(job *messages.Job) string {
	if s := Summarize(nil, job).State; s != api.StateCompleted {
		return s // failed, stopped (cancelled) or a supervisor at work
	}
	run := job.GetRun()
	switch {
	case run.GetPhase() == supervisor.PhaseDone.String() && run.GetEnd() == supervisor.EndCompleted.String():
		return api.StateCompleted
	case len(run.GetChildren()) == 0:
		return api.StatePending
	}
	return api.StateRunning
}
