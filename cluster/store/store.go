// Package store defines the task store: the durable home of every task's
// spec and status, written with check-and-set so that only the current
// owner of a task can advance it.
//
// Two implementations share one conformance suite (storetest): boltstore,
// the embedded store of `granary dev`, and the Consul KV store of clusters.
//
//	rec, created, err := s.Create(ctx, task)       // idempotent by task id
//	rec.Task.Status.State = messages.TaskState_TASK_STATE_RUNNING
//	rec, err = s.Update(ctx, rec.Task, rec.Revision) // ErrConflict if anyone wrote in between
package store

import (
	"context"
	"time"

	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/messages"
)

var (
	// ErrNotFound: no task has that id.
	ErrNotFound = errs.New("task not found", errs.ErrNotFound)
	// ErrConflict: the task changed since the revision the writer read; it
	// must read again and decide anew (it may no longer own the task).
	ErrConflict = errs.New("task changed concurrently", errs.ErrConflict)
	// ErrClosed: the store was closed.
	ErrClosed = errs.New("store closed", errs.ErrClosed)
	// ErrUnavailable: the store could not be reached, or refused the call
	// for now (overloaded, no leader); the call may be retried.
	ErrUnavailable = errs.New("store unavailable", errs.ErrUnavailable)
)

// Record is a stored task with its revision. Revisions grow with every
// write to the store, so a larger revision is always a later state.
type Record struct {
	Task     *messages.Task
	Revision uint64
}

// Filter selects tasks for List. Zero fields match everything.
type Filter struct {
	// States keeps tasks in one of these states.
	States []messages.TaskState
	// Owner keeps unfinished tasks whose claim this member holds. It is
	// answered from an index, not a scan, so failover is cheap.
	Owner string
	// Unfinished keeps tasks not in a terminal state.
	Unfinished bool
	// JobID keeps the tasks of one job (found through an index of the
	// job's tasks where the store has one).
	JobID string
	// Kind keeps the tasks of one kind.
	Kind string
	// Labels keeps the tasks carrying every one of these labels.
	Labels map[string]string
	// SubmittedBefore keeps the tasks submitted strictly before it (zero:
	// no bound). With OldestFirst it is answered from the submission-time
	// index: the store reads only the tasks submitted before it, so the
	// retention sweep reads the tasks that can be due, not every task.
	SubmittedBefore time.Time
	// Order is the order of the records: by id (the zero value), newest
	// first or oldest first.
	Order Order
	// After keeps the tasks after this position in Order: the last task of
	// the previous page (nil: from the start).
	After *Position
	// Limit caps the number of records (0: no cap): the first Limit in
	// Order of those matching.
	Limit int
}

// Store is the task store. Implementations are safe for concurrent use.
//
// A store keeps no reference to the tasks passed to it or returned by it:
// they are the caller's. The record Create or Update returns may hold the
// very task passed in (it is the task as stored), so a caller that keeps
// changing that task must not keep the record too.
type Store interface {
	// Create stores t unless a task with its id exists. It returns the stored
	// record, and whether this call created it.
	Create(ctx context.Context, t *messages.Task) (rec Record, created bool, err error)
	// Get returns the task with that id, or ErrNotFound.
	Get(ctx context.Context, id string) (Record, error)
	// Update replaces the task if its stored revision is still rev, and
	// returns the new record; ErrConflict otherwise.
	Update(ctx context.Context, t *messages.Task, rev uint64) (Record, error)
	// List returns the tasks matching f, in f.Order, at most f.Limit of
	// them (the first, after f.After). The filters are applied as the
	// store reads, so what does not match costs no memory.
	List(ctx context.Context, f Filter) ([]Record, error)
	// Delete removes a finished task if its stored revision is still rev;
	// ErrConflict otherwise, ErrNotFound if it is gone.
	Delete(ctx context.Context, id string, rev uint64) error
	// Watch blocks until the task's revision is greater than after, then
	// returns it; it returns ctx's error when ctx ends first.
	Watch(ctx context.Context, id string, after uint64) (Record, error)
	// Close releases the store. It is safe to call twice.
	Close() error

	// GetJob returns a job's supervision record, or ErrNotFound.
	GetJob(ctx context.Context, id string) (JobRecord, error)
	// PutJob writes a job record if its stored revision is still rev (0:
	// only if none exists), and returns the new record; ErrConflict otherwise.
	PutJob(ctx context.Context, j *messages.Job, rev uint64) (JobRecord, error)
	// ListJobs returns every job record, ordered by id. It reads every
	// record: the periodic passes (janitor, adoption) use it, the hot paths
	// of job supervision ListChildJobs.
	ListJobs(ctx context.Context) ([]JobRecord, error)
	// ListChildJobs returns the job records whose parent is parent,
	// ordered by id. It is answered from an index of each job's children,
	// written with the records, so it reads the children's records only,
	// however many other jobs are stored. An empty parent has none: root
	// jobs are not listed.
	ListChildJobs(ctx context.Context, parent string) ([]JobRecord, error)
	// DeleteJob removes a job record if its stored revision is still rev;
	// ErrConflict otherwise, ErrNotFound if it is gone.
	DeleteJob(ctx context.Context, id string, rev uint64) error
}

// Prober is an optional Store capability: whether a task is stored, told
// more cheaply than by reading it (a store may answer many callers with one
// request). The task manager asks before it runs a new task's first attempt
// ahead of storing it, so a resubmitted task is not run again.
type Prober interface {
	Exists(ctx context.Context, id string) (bool, error)
}

// Health is an optional Store capability: whether writes land now. A store
// whose writes fail for a reason that passes (a full disk) answers an error
// wrapping ErrUnavailable until they land again; the node's health check
// reports it, so operators and load balancers see the trouble.
type Health interface {
	Healthy(ctx context.Context) error
}

// JobRecord is a stored job supervision record with its revision.
type JobRecord struct {
	Job      *messages.Job
	Revision uint64
}

// Terminal reports whether a state is final.
func Terminal(s messages.TaskState) bool {
	switch s {
	case messages.TaskState_TASK_STATE_COMPLETED, messages.TaskState_TASK_STATE_FAILED, messages.TaskState_TASK_STATE_CANCELLED:
		return true
	}
	return false
}

// Match reports whether t passes f's filters and comes after f.After (the
// order and the limit are Page's business).
func (f Filter) Match(t *messages.Task) bool {
	st := t.GetStatus().GetState()
	if f.Unfinished && Terminal(st) {
		return false
	}
	if f.JobID != "" && t.GetSpec().GetJobId() != f.JobID {
		return false
	}
	if f.Owner != "" && (Terminal(st) || t.GetStatus().GetOwner() != f.Owner) {
		return false
	}
	if f.Kind != "" && t.GetSpec().GetKind() != f.Kind {
		return false
	}
	for k, v := range f.Labels {
		if got, ok := t.GetSpec().GetLabels()[k]; !ok || got != v {
			return false
		}
	}
	if !f.SubmittedBefore.IsZero() && !t.GetStatus().GetSubmittedAt().AsTime().Before(f.SubmittedBefore) {
		return false
	}
	if f.After != nil && !f.Order.Before(*f.After, PositionOf(t)) {
		return false
	}
	if len(f.States) == 0 {
		return true
	}
	for _, s := range f.States {
		if s == st {
			return true
		}
	}
	return false
}
