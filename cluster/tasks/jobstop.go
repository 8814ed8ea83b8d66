package tasks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// StopJob stops a job and its whole subtree, as an OTP supervisor stops:
// the job's record says it ended (with reason), so no child joins it any
// more, then its children, tasks and child jobs alike, are terminated in
// reverse start order (stage descending, then id descending), a child job
// by stopping its own subtree the same way first. A job already stopped or
// failed is stopped again (its unfinished children, if an earlier stop was
// interrupted); the answer is its record. No job and no task under the id
// is api.ErrNotFound.
//
// This is the plain form: it cancels each unfinished task and returns once
// every cancel is recorded, without waiting for attempts to exit within
// the job's shutdown time (the job supervisor's StopJob does).
func (m *Manager) StopJob(ctx context.Context, id, reason string) (store.JobRecord, error) {
	if err := checkID("job", id); err != nil {
		return store.JobRecord{}, err
	}
	if reason == "" {
		reason = "by request"
	}
	// The job's record says it was stopped and why; every job and task
	// under it says which stop ended it, however deep. Each task's cancel
	// takes why as its reason, so why is what must fit.
	why := fmt.Sprintf("job %s stopped: %s", id, reason)
	if err := checkText("stop reason", reason, MaxReasonBytes-(len(why)-len(reason))); err != nil {
		return store.JobRecord{}, fmt.Errorf("%w: %w", api.ErrInvalidArgument, err)
	}
	return m.stopJob(ctx, id, "stopped: "+reason, why, 0)
}

// stopJob stops job id with cause, and its children with why.
func (m *Manager) stopJob(ctx context.Context, id, cause, why string, depth int) (store.JobRecord, error) {
	rec, err := m.markJobStopped(ctx, id, cause)
	if err != nil {
		return store.JobRecord{}, err
	}
	tasks, err := m.store.List(ctx, store.Filter{JobID: id})
	if err != nil {
		return rec, storeErr(err)
	}
	kids, err := m.childJobs(ctx, id)
	if err != nil {
		return rec, storeErr(err)
	}
	var errs []error
	for _, c := range stopOrder(unfinished(tasks), kids) {
		switch {
		case c.job && depth < MaxJobDepth:
			_, err = m.stopJob(ctx, c.id, why, why, depth+1)
		case !c.job:
			_, err = m.Cancel(ctx, c.id, why)
		}
		if err != nil && !errors.Is(err, api.ErrFailedPrecondition) && !errors.Is(err, api.ErrNotFound) {
			errs = append(errs, fmt.Errorf("stopping %s: %w", c.id, err))
		}
	}
	if len(errs) > 0 {
		return rec, fmt.Errorf("job %s: %w", id, errors.Join(errs...))
	}
	m.log.Info("job stopped", "job", id, "cause", cause, "tasks", len(tasks), "child_jobs", len(kids))
	return rec, nil
}

// markJobStopped records that the job ended with cause, unless its record
// already says it ended. A job named only by its tasks' job_id, from before
// job records, gets a record from its first task.
func (m *Manager) markJobStopped(ctx context.Context, id, cause string) (store.JobRecord, error) {
	for tries := 0; ; tries++ {
		jr, err := m.store.GetJob(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			var recs []store.Record
			if recs, err = m.store.List(ctx, store.Filter{JobID: id, Limit: 1}); err == nil && len(recs) == 0 {
				return store.JobRecord{}, fmt.Errorf("%w: no job %s", api.ErrNotFound, id)
			}
			if err == nil {
				jr, err = m.ensureJob(ctx, recs[0].Task.GetSpec())
			}
		}
		if err != nil {
			return store.JobRecord{}, storeErr(err)
		}
		if jr.Job.GetFailed() {
			return jr, nil
		}
		next := proto.Clone(jr.Job).(*messages.Job)
		next.Failed, next.Cause, next.UpdatedAt = true, cause, timestamppb.New(m.now())
		out, err := m.store.PutJob(ctx, next, jr.Revision)
		if err == nil || !errors.Is(err, store.ErrConflict) || tries >= 5 {
			return out, storeErr(err)
		}
	}
}

// unfinished keeps the tasks that have not ended.
func unfinished(recs []store.Record) []store.Record {
	return slices.DeleteFunc(recs, func(r store.Record) bool { return store.Terminal(r.Task.GetStatus().GetState()) })
}

// stopChild is one child of a job: a task or a child job.
type stopChild struct {
	id    string
	stage int32
	job   bool
}

// stopOrder is the pure order of a stop: a job's children, its tasks and
// its child jobs together, in reverse start order (stage descending, then
// id descending).
func stopOrder(tasks []store.Record, jobs []store.JobRecord) []stopChild {
	cs := make([]stopChild, 0, len(tasks)+len(jobs))
	for _, t := range tasks {
		cs = append(cs, stopChild{id: t.Task.GetSpec().GetId(), stage: t.Task.GetSpec().GetJobStage()})
	}
	for _, j := range jobs {
		cs = append(cs, stopChild{id: j.Job.GetId(), stage: j.Job.GetStage(), job: true})
	}
	slices.SortFunc(cs, func(a, b stopChild) int { return cmp.Or(cmp.Compare(b.stage, a.stage), cmp.Compare(b.id, a.id)) })
	return cs
}

// childJobs lists the jobs whose parent is id (in no order: stopOrder and
// childrenOf put them in theirs). It reads every job record
// (store.ListJobs): trees are changed and stopped rarely, and a job record
// is small.
func (m *Manager) childJobs(ctx context.Context, id string) ([]store.JobRecord, error) {
	all, err := m.store.ListJobs(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.JobRecord
	for _, j := range all {
		if j.Job.GetParent() == id {
			out = append(out, j)
		}
	}
	return out, nil
}
