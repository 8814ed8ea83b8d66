package tasks

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

// A job is the set of tasks sharing a job id, supervised together. Each
// task keeps its own retry budget; when a task fails for good (its budget
// spent, a permanent error, its deadline), the failure escalates to the job,
// which fails with that cause, and the job's strategy says what happens to
// its other unfinished tasks:
//
//	one_for_one   they run on
//	one_for_all   they are stopped (cancelled with the job's cause)
//	rest_for_one  those of later stages are stopped; earlier stages run on

// JobSummary is the state of a job, derived from its tasks.
type JobSummary struct {
	Strategy string
	// State is running until every task finished; then completed when all
	// completed, failed when one failed, else cancelled.
	State string
	// Cause is the failure that failed the job.
	Cause  string
	Counts map[string]int
}

// Summarize is the pure job rule over a job's tasks.
func Summarize(recs []store.Record) JobSummary {
	s := JobSummary{Counts: map[string]int{}}
	var firstFail *messages.Task
	for _, r := range recs {
		t := r.Task
		if s.Strategy == "" {
			s.Strategy = t.GetSpec().GetJobStrategy()
		}
		s.Counts[api.StateName(t.GetStatus().GetState())]++
		if t.GetStatus().GetState() == messages.TaskState_TASK_STATE_FAILED &&
			(firstFail == nil || t.GetStatus().GetFinishedAt().AsTime().Before(firstFail.GetStatus().GetFinishedAt().AsTime())) {
			firstFail = t
		}
	}
	finished := s.Counts[api.StateCompleted] + s.Counts[api.StateFailed] + s.Counts[api.StateCancelled]
	switch {
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

// ToStop is the pure strategy rule: the unfinished tasks of a job to stop
// when failed has failed for good, in id order.
func ToStop(job []store.Record, failed *messages.Task) []string {
	strategy, _ := supervisor.ParseStrategy(failed.GetSpec().GetJobStrategy())
	var out []string
	for _, r := range job {
		t := r.Task
		if t.GetSpec().GetId() == failed.GetSpec().GetId() || store.Terminal(t.GetStatus().GetState()) {
			continue
		}
		switch strategy {
		case supervisor.OneForAll:
			out = append(out, t.GetSpec().GetId())
		case supervisor.RestForOne:
			if t.GetSpec().GetJobStage() > failed.GetSpec().GetJobStage() {
				out = append(out, t.GetSpec().GetId())
			}
		}
	}
	sort.Strings(out)
	return out
}

// Job returns a job's tasks and summary; api.ErrNotFound if it has none.
func (m *Manager) Job(ctx context.Context, id string) ([]store.Record, JobSummary, error) {
	recs, err := m.store.List(ctx, store.Filter{JobID: id})
	if err != nil {
		return nil, JobSummary{}, storeErr(err)
	}
	if len(recs) == 0 {
		return nil, JobSummary{}, fmt.Errorf("%w: no task in job %s", api.ErrNotFound, id)
	}
	return recs, Summarize(recs), nil
}

// checkJob refuses a new task for a job that uses another strategy or has
// already failed.
func (m *Manager) checkJob(ctx context.Context, t *messages.Task) error {
	job := t.GetSpec().GetJobId()
	if job == "" {
		return nil
	}
	if _, err := m.store.Get(ctx, t.GetSpec().GetId()); err == nil {
		return nil // a resubmission: Create answers with the stored task
	}
	recs, err := m.store.List(ctx, store.Filter{JobID: job})
	if err != nil {
		return storeErr(err)
	}
	if len(recs) == 0 {
		return nil
	}
	sum := Summarize(recs)
	if sum.Strategy != t.GetSpec().GetJobStrategy() {
		return fmt.Errorf("%w: job %s uses strategy %s, not %s", api.ErrInvalidArgument, job, sum.Strategy, t.GetSpec().GetJobStrategy())
	}
	if sum.State == api.StateFailed {
		return fmt.Errorf("%w: job %s has failed (%s)", api.ErrFailedPrecondition, job, sum.Cause)
	}
	return nil
}

// escalate applies the job strategy after one of its tasks failed for good.
// It runs off the task actor (it reads the job and cancels tasks that may
// live on other members) and is tracked so Stop waits for it.
func (m *Manager) escalate(failed *messages.Task) {
	if failed.GetSpec().GetJobId() == "" {
		return
	}
	m.jobs.Add(1)
	go func() {
		defer m.jobs.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 3*m.cfg.StoreTimeout)
		defer cancel()
		job := failed.GetSpec().GetJobId()
		recs, err := m.store.List(ctx, store.Filter{JobID: job})
		if err != nil {
			m.log.Warn("job escalation: listing the job failed", "job", job, "err", err)
			return
		}
		reason := fmt.Sprintf("job %s failed (%s): task %s failed: %s", job, failed.GetSpec().GetJobStrategy(), failed.GetSpec().GetId(), failed.GetStatus().GetError())
		stop := ToStop(recs, failed)
		if len(stop) > 0 {
			m.log.Info("job failed; stopping its other tasks", "job", job, "failed_task", failed.GetSpec().GetId(), "stopping", len(stop))
		}
		for _, id := range stop {
			if _, err := m.Cancel(ctx, id, reason); err != nil && !errors.Is(err, api.ErrFailedPrecondition) {
				m.log.Warn("job escalation: cancelling a task failed", "job", job, "task", id, "err", err)
			}
		}
	}()
}
