package tasks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A job is the set of tasks sharing a job id (and the child jobs naming it
// as parent), supervised together: the job is a supervisor whose children
// are its tasks and child jobs, run by a job actor (job_actor.go) around
// supervisor.JobMachine. Each task keeps its own retry budget; when a task
// fails for good (its budget spent), it waits, held, and reports to its
// job. While the job's own restart budget lasts (job_max_restarts within
// job_restart_period), the job restarts: the children its strategy names
// are terminated in reverse start order, each waited for, then started
// again in start order, each with a fresh retry budget:
//
//	one_for_one   only the failed task
//	one_for_all   every unfinished child of the job
//	rest_for_one  the unfinished children of later stages (a pipeline)
//
// Completed tasks never run again: their committed result stands. When the
// budget is spent (0 by default), or the failure is one a restart cannot
// mend (a permanent error, the deadline), the job gives up: every child is
// terminated in reverse start order, then the job fails with that cause.

// JobSummary is the state of a job, derived from its tasks and its job
// record.
type JobSummary struct {
	Strategy string
	// MaxRestarts and RestartPeriod are the job's restart budget.
	MaxRestarts   int
	RestartPeriod time.Duration
	// Restarts are the job's restarts so far, oldest first.
	Restarts []*messages.JobRestart
	// State is running until every task finished; then completed when all
	// completed, failed when one failed, else cancelled.
	State string
	// Cause is the failure that failed the job.
	Cause  string
	Counts map[string]int
}

// Summarize is the pure job rule over a job's tasks and its record (nil:
// none, as for a job submitted before job records existed).
func Summarize(recs []store.Record, job *messages.Job) JobSummary {
	s := JobSummary{Counts: map[string]int{}}
	var firstFail *messages.Task
	for _, r := range recs {
		t := r.Task
		if s.Strategy == "" {
			s.Strategy = t.GetSpec().GetJobStrategy()
			s.MaxRestarts = int(t.GetSpec().GetJobMaxRestarts())
			s.RestartPeriod = t.GetSpec().GetJobRestartPeriod().AsDuration()
		}
		s.Counts[api.StateName(t.GetStatus().GetState())]++
		if t.GetStatus().GetState() == messages.TaskState_TASK_STATE_FAILED && restartTypeOf(t.GetSpec().GetRestart()) != supervisor.Temporary &&
			(firstFail == nil || t.GetStatus().GetFinishedAt().AsTime().Before(firstFail.GetStatus().GetFinishedAt().AsTime())) {
			firstFail = t
		}
	}
	finished := s.Counts[api.StateCompleted] + s.Counts[api.StateFailed] + s.Counts[api.StateCancelled]
	s.Restarts = job.GetRestarts()
	if job != nil {
		s.Strategy, s.MaxRestarts, s.RestartPeriod = job.GetStrategy(), int(job.GetMaxRestarts()), job.GetRestartPeriod().AsDuration()
	}
	run := job.GetRun()
	switch {
	case job.GetFailed():
		s.State, s.Cause = api.StateFailed, job.GetCause()
	case run.GetPhase() == supervisor.PhaseDone.String() && run.GetEnd() == supervisor.EndStopped.String():
		s.State, s.Cause = api.StateCancelled, run.GetCause()
	case run.GetPhase() == supervisor.PhaseRestarting.String() || run.GetPhase() == supervisor.PhaseShuttingDown.String():
		s.State = api.StateRunning // its supervisor is at work
	case firstFail != nil:
		s.State = api.StateFailed
		s.Cause = fmt.Sprintf("task %s failed: %s", firstFail.GetSpec().GetId(), firstFail.GetStatus().GetError())
	case finished < len(recs):
		s.State = api.StateRunning
	case s.Counts[api.StateCompleted] == len(recs):
		s.State = api.StateCompleted
	default:
		s.State = api.StateCancelled
	}
	return s
}

// Job returns a job's tasks and summary; api.ErrNotFound if it has none.
// The tasks are lean (jobTasksLean): a page of them with their results is
// the business of Find.
func (m *Manager) Job(ctx context.Context, id string) ([]store.Record, JobSummary, error) {
	if err := checkID("job", id); err != nil {
		return nil, JobSummary{}, err
	}
	recs, err := jobTasksLean(ctx, m.store, id)
	if err != nil {
		return nil, JobSummary{}, storeErr(err)
	}
	if len(recs) == 0 {
		return nil, JobSummary{}, fmt.Errorf("%w: no task in job %s", api.ErrNotFound, id)
	}
	job, err := m.jobRecord(ctx, id)
	if err != nil {
		return nil, JobSummary{}, err
	}
	return recs, Summarize(recs, job), nil
}

// jobReadChunk is how many records of a job jobTasksLean reads at a time.
const jobReadChunk = 16

// jobTasksLean reads a job's tasks by id, a chunk at a time, keeping each
// without its payload, result and error history: what Summarize needs,
// not what a job of 300 tasks of 175 KB would hold in memory (105 MB a
// read, and eight reads at once took a node to 1.6 GB).
func jobTasksLean(ctx context.Context, s store.Store, id string) ([]store.Record, error) {
	var out []store.Record
	f := store.Filter{JobID: id, Order: store.ByID, Limit: jobReadChunk}
	for {
		recs, err := s.List(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			// The store keeps no reference to what it returns: the
			// record is this call's to trim.
			if sp := r.Task.GetSpec(); sp != nil {
				sp.Payload = nil
			}
			if st := r.Task.GetStatus(); st != nil {
				st.Result, st.Errors = nil, nil
			}
			out = append(out, r)
		}
		if len(recs) < jobReadChunk {
			return out, nil
		}
		at := store.PositionOf(recs[len(recs)-1].Task)
		f.After = &at
	}
}

// jobRecord reads a job's record; nil if it has none.
func (m *Manager) jobRecord(ctx context.Context, id string) (*messages.Job, error) {
	jr, err := m.store.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr(err)
	}
	return jr.Job, nil
}

// checkJob refuses a new task for a job that uses another strategy or has
// already failed. A task whose submission named no strategy or no restart
// budget joins with the job's (written into t's spec).
func (m *Manager) checkJob(ctx context.Context, t *messages.Task, sub Submission) error {
	spec := t.GetSpec()
	if spec.GetJobId() == "" {
		return nil
	}
	jr, err := m.ensureJob(ctx, spec)
	if err != nil {
		return err
	}
	job := jr.Job
	if err := JoinJob(job, spec, sub.JobStrategy != "", sub.JobMaxRestarts != 0 || sub.JobRestartPeriod != 0); err != nil {
		return err
	}
	if ended := jobRunEnd(job); job.GetFailed() || ended == supervisor.EndFailed || ended == supervisor.EndStopped {
		if _, err := m.store.Get(ctx, spec.GetId()); err == nil {
			return nil // a resubmission: Create answers with the stored task
		}
		return fmt.Errorf("%w: job %s has %s (%s)", api.ErrFailedPrecondition, spec.GetJobId(), cmp.Or(ended.String(), "failed"), cmp.Or(job.GetCause(), job.GetRun().GetCause()))
	}
	return nil
}

// recheckJob closes the window between checkJob and the task's creation,
// and tells the job's supervisor of its new child. A job whose end was
// recorded meanwhile terminated the children it knew, and t, not yet
// stored then, was not among them: read after t is stored, the job's
// record shows the end, and t is cancelled, as checkJob would have refused
// it. A job whose supervisor runs learns of t (a group restart must
// terminate it too); one whose supervisor never ran finds t when it
// starts.
func (m *Manager) recheckJob(t *messages.Task) {
	job, id := t.GetSpec().GetJobId(), t.GetSpec().GetId()
	if job == "" {
		return
	}
	m.jobWork(func(ctx context.Context) {
		j, err := m.jobRecord(ctx, job)
		if err != nil {
			return
		}
		if ended := jobRunEnd(j); !j.GetFailed() && ended != supervisor.EndFailed && ended != supervisor.EndStopped {
			// Told even if its supervisor has written nothing yet: one
			// already running may have listed the job's tasks before t was
			// stored (a group restart then left t running, and the job
			// failed with t still running). The record just read routes
			// it (a fan-out's children each read their job's record
			// often enough); a failure is retried as routeJobAsync does.
			joined := supervisor.JobEvent{Kind: supervisor.EventAdded, Child: taskChild(t)}
			if j == nil || m.deliverJob(ctx, j, joined) != nil {
				m.routeJobAsync(job, joined)
			}
			return
		}
		m.log.Info("a task joined its job as the job ended; cancelling it", "job", job, "task", id)
		if _, err := m.Cancel(ctx, id, fmt.Sprintf("job %s had ended when this task joined it", job)); err != nil && !errors.Is(err, api.ErrFailedPrecondition) {
			m.log.Warn("cancelling a task of a failed job failed", "job", job, "task", id, "err", err)
		}
	})
}

// JoinJob is the pure rule of a task joining a job: every task of a job
// runs under the job's strategy and restart budget, as its record holds
// them. A task that did not name a strategy (namedStrategy false) or a
// budget (namedBudget false) takes the job's, written into spec; one that
// named another is refused (api.ErrInvalidArgument).
func JoinJob(job *messages.Job, spec *messages.TaskSpec, namedStrategy, namedBudget bool) error {
	if !namedStrategy {
		spec.JobStrategy = job.GetStrategy()
	}
	if !namedBudget {
		spec.JobMaxRestarts, spec.JobRestartPeriod = job.GetMaxRestarts(), nil
		if p := job.GetRestartPeriod(); p != nil {
			spec.JobRestartPeriod = durationpb.New(p.AsDuration())
		}
	}
	if job.GetStrategy() != spec.GetJobStrategy() {
		return fmt.Errorf("%w: job %s uses strategy %s, not %s", api.ErrInvalidArgument, spec.GetJobId(), job.GetStrategy(), spec.GetJobStrategy())
	}
	if job.GetMaxRestarts() != spec.GetJobMaxRestarts() || job.GetRestartPeriod().AsDuration() != spec.GetJobRestartPeriod().AsDuration() {
		return fmt.Errorf("%w: job %s has a restart budget of %d in %s, not %d in %s", api.ErrInvalidArgument, spec.GetJobId(),
			job.GetMaxRestarts(), periodText(job.GetRestartPeriod().AsDuration()), spec.GetJobMaxRestarts(), periodText(spec.GetJobRestartPeriod().AsDuration()))
	}
	return nil
}

// ensureJob returns the record of spec's job, creating it from spec if the
// job has none: the first task of a job sets its strategy and budget, so
// checking a new task costs one read, not a listing of the job.
func (m *Manager) ensureJob(ctx context.Context, spec *messages.TaskSpec) (store.JobRecord, error) {
	for tries := 0; ; tries++ {
		jr, err := m.store.GetJob(ctx, spec.GetJobId())
		if err == nil {
			return jr, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.JobRecord{}, storeErr(err)
		}
		job := &messages.Job{Id: spec.GetJobId(), Strategy: spec.GetJobStrategy(), MaxRestarts: spec.GetJobMaxRestarts(),
			RestartPeriod: spec.GetJobRestartPeriod(), UpdatedAt: timestamppb.New(m.now())}
		jr, err = m.store.PutJob(ctx, job, 0)
		if err == nil {
			return jr, nil
		}
		if !errors.Is(err, store.ErrConflict) || tries >= 3 {
			return store.JobRecord{}, storeErr(err) // a conflict: another submit created it; read it
		}
	}
}

func periodText(d time.Duration) string {
	if d == 0 {
		return "the job's life"
	}
	return d.String()
}
