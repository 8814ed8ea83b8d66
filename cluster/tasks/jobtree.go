package tasks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
)

// MaxTreeJobs and MaxTreeTasks bound what one tree read (GET
// /v1/jobs/{id}/tree) draws: a thousand jobs and ten thousand tasks are
// an answer of a few megabytes, as much as a person or a script reads at
// once; the rest is counted, not drawn.
const (
	MaxTreeJobs  = 1000
	MaxTreeTasks = 10000
)

// JobNode is one job of a tree: its record, the summary of its tasks, the
// tasks and the child jobs, each in start order (stage, then id).
type JobNode struct {
	ID string
	// Job is the job's record (nil: a job of tasks only, from before job
	// records).
	Job     *messages.Job
	Summary JobSummary
	// State is pending for a declared job with no child yet, running while
	// any child runs, else what its children ended as (failed if its record
	// says so).
	State string
	// RestartsInPeriod counts the restarts within the budget's period now:
	// the budget used.
	RestartsInPeriod int
	Tasks            []store.Record
	Children         []*JobNode
	// TasksOmitted and ChildrenOmitted count children past the tree's
	// bounds (MaxTreeTasks, MaxTreeJobs).
	TasksOmitted, ChildrenOmitted int
}

// JobTree is a job and its descendants, to any depth.
type JobTree struct {
	Root *JobNode
	// Jobs and Tasks count the nodes drawn; Truncated says some were not.
	Jobs, Tasks int
	Truncated   bool
}

// JobNode reads one job: its record, tasks (lean: without payloads,
// results and error histories) and state, without its child jobs (JobTree
// has them). A declared job with no task yet is found;
// neither a record nor a task under id is api.ErrNotFound.
func (m *Manager) JobNode(ctx context.Context, id string) (*JobNode, error) {
	if err := checkID("job", id); err != nil {
		return nil, err
	}
	rec, err := m.jobRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	recs, err := jobTasksLean(ctx, m.store, id)
	if err != nil {
		return nil, storeErr(err)
	}
	if rec == nil && len(recs) == 0 {
		return nil, fmt.Errorf("%w: no job %s", api.ErrNotFound, id)
	}
	return m.node(id, rec, recs), nil
}

// JobTree reads a job and its descendants, to any depth (MaxJobDepth
// bounds it), with each node's state, budget and restarts. It reads the
// subtree's job records once (ListChildJobs, level by level) and each
// drawn job's tasks once; past MaxTreeJobs jobs
// or MaxTreeTasks tasks the rest are counted, not drawn.
func (m *Manager) JobTree(ctx context.Context, id string) (JobTree, error) {
	root, err := m.JobNode(ctx, id)
	if err != nil {
		return JobTree{}, err
	}
	// As deep as grow draws (MaxJobDepth), and the level below it, whose
	// jobs grow counts as omitted.
	kids, err := m.subtreeJobs(ctx, id, MaxJobDepth+1, nil)
	if err != nil {
		return JobTree{}, storeErr(err)
	}
	tree := JobTree{Root: root, Jobs: 1}
	boundTasks(root, &tree)
	if err := m.grow(ctx, &tree, root, kids, 0); err != nil {
		return JobTree{}, err
	}
	return tree, nil
}

// grow reads n's child jobs into n, depth first in start order, and
// settles n's state from its children.
func (m *Manager) grow(ctx context.Context, tree *JobTree, n *JobNode, kids map[string][]store.JobRecord, depth int) error {
	children := childrenOf(kids[n.ID], n.ID)
	for i, c := range children {
		if depth >= MaxJobDepth || tree.Jobs >= MaxTreeJobs {
			n.ChildrenOmitted, tree.Truncated = len(children)-i, true
			break
		}
		recs, err := jobTasksLean(ctx, m.store, c.Job.GetId())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return storeErr(err)
		}
		child := m.node(c.Job.GetId(), c.Job, recs)
		tree.Jobs++
		boundTasks(child, tree)
		if err := m.grow(ctx, tree, child, kids, depth+1); err != nil {
			return err
		}
		n.Children = append(n.Children, child)
	}
	n.State = nodeState(n)
	return nil
}

// boundTasks counts n's tasks into the tree, dropping (and counting in n)
// those past MaxTreeTasks.
func boundTasks(n *JobNode, tree *JobTree) {
	if keep := MaxTreeTasks - tree.Tasks; len(n.Tasks) > keep {
		n.TasksOmitted, n.Tasks, tree.Truncated = len(n.Tasks)-keep, n.Tasks[:keep], true
	}
	tree.Tasks += len(n.Tasks)
}

// node builds one job's node from its record and tasks.
func (m *Manager) node(id string, rec *messages.Job, recs []store.Record) *JobNode {
	slices.SortFunc(recs, func(a, b store.Record) int {
		return cmp.Or(cmp.Compare(a.Task.GetSpec().GetJobStage(), b.Task.GetSpec().GetJobStage()), cmp.Compare(a.Task.GetSpec().GetId(), b.Task.GetSpec().GetId()))
	})
	n := &JobNode{ID: id, Job: rec, Summary: Summarize(recs, rec), Tasks: recs}
	n.RestartsInPeriod = restartsWithin(rec.GetRestarts(), n.Summary.RestartPeriod, m.now())
	n.State = nodeState(n)
	return n
}

// restartsWithin counts the restarts within period before now (0: all of
// them, the budget counting over the job's life).
func restartsWithin(restarts []*messages.JobRestart, period time.Duration, now time.Time) int {
	if period <= 0 {
		return len(restarts)
	}
	n := 0
	for _, r := range restarts {
		if now.Sub(r.GetAt().AsTime()) < period {
			n++
		}
	}
	return n
}

// nodeState is the pure state of a job from its record, its tasks' summary
// and its child jobs' states: what its record says when that decides it
// (ended, stopped, its supervisor at work: Summarize of the record alone);
// else pending with no child at all; running while any child has not
// ended; then failed if any child failed, completed if all completed, else
// cancelled.
func nodeState(n *JobNode) string {
	if s := Summarize(nil, n.Job).State; s != api.StateCompleted {
		return s // a record with no task summarizes as completed unless it decides
	}
	var states []string
	if len(n.Tasks)+n.TasksOmitted > 0 {
		states = append(states, n.Summary.State)
	}
	for _, c := range n.Children {
		states = append(states, c.State)
	}
	switch {
	case len(states) == 0 && n.ChildrenOmitted == 0:
		return api.StatePending
	case n.ChildrenOmitted > 0 || slices.ContainsFunc(states, func(s string) bool { return !api.IsTerminal(s) }):
		return api.StateRunning
	case slices.Contains(states, api.StateFailed):
		return api.StateFailed
	case !slices.ContainsFunc(states, func(s string) bool { return s != api.StateCompleted }):
		return api.StateCompleted
	}
	return api.StateCancelled
}

// childrenOf picks the children of id out of every job record, in start
// order.
func childrenOf(all []store.JobRecord, id string) []store.JobRecord {
	var out []store.JobRecord
	for _, r := range all {
		if r.Job.GetParent() == id && r.Job.GetId() != id {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b store.JobRecord) int {
		return cmp.Or(cmp.Compare(a.Job.GetStage(), b.Job.GetStage()), cmp.Compare(a.Job.GetId(), b.Job.GetId()))
	})
	return out
}
