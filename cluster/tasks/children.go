package tasks

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

// ParentLabel is the label a child task carries: its parent's id.
const ParentLabel = "granary.parent"

// awaitBeat is how often an attempt waiting for its children heartbeats:
// waiting is not hanging, and a heartbeat time-out of a second or more
// never fires while it waits.
const awaitBeat = 500 * time.Millisecond

// heldRecheck is how often an await of a child held for its job (it
// failed for good, and its job decides) reads the job's record: rare (a
// child failing for good), and a second or two late is harmless.
const heldRecheck = 2 * time.Second

// spawnedSet counts the distinct children one attempt spawned, for
// actors.MaxChildren. Handlers may spawn from several goroutines.
type spawnedSet struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

// add records id, or refuses it past max distinct ids.
func (s *spawnedSet) add(id string, max int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ids[id]; ok {
		return nil
	}
	if len(s.ids) >= max {
		return fmt.Errorf("%w: an attempt may spawn at most %d children (spawn wider in two levels: children that spawn children)", actors.ErrTooManyChildren, max)
	}
	if s.ids == nil {
		s.ids = make(map[string]struct{})
	}
	s.ids[id] = struct{}{}
	return nil
}

var _ actors.Parent = (*taskContext)(nil)

// childSubmission is the submission that spawns parent's child name: the
// pure part of SpawnChild. Every error wraps actors.ErrInvalidChild.
func childSubmission(parent, name, kind string, payload []byte, opts actors.ChildOptions) (Submission, error) {
	if err := actors.CheckChildName(name); err != nil {
		return Submission{}, err
	}
	id, job := actors.ChildID(parent, name), actors.ChildJobID(parent)
	if !validID(id) || !validID(job) {
		return Submission{}, fmt.Errorf("%w: child id %q or its job's id %q is longer than a task id may be (128 bytes): shorten the parent's id or the child's name",
			actors.ErrInvalidChild, id, job)
	}
	labels := maps.Clone(opts.Labels)
	if labels == nil {
		labels = make(map[string]string, 1)
	}
	labels[ParentLabel] = parent
	return Submission{
		ID: id, Kind: kind, Payload: payload, Overrides: opts.Overrides, Labels: labels,
		JobID: job, JobStrategy: opts.Strategy, JobStage: opts.Stage,
		JobMaxRestarts: opts.MaxRestarts, JobRestartPeriod: opts.RestartPeriod,
	}, nil
}

// SpawnChild implements actors.Parent: it submits the child, idempotently
// by its derived id, so a later attempt finds what an earlier one spawned.
func (c *taskContext) SpawnChild(name, kind string, payload []byte, opts actors.ChildOptions) (actors.Child, error) {
	sub, err := childSubmission(c.id, name, kind, payload, opts)
	if err != nil {
		return actors.Child{}, err
	}
	if err := c.spawned.add(sub.ID, actors.MaxChildren); err != nil {
		return actors.Child{}, err
	}
	child := actors.Child{ID: sub.ID, Name: name, Kind: kind}
	_, _, err = c.m.Submit(c, sub)
	switch {
	case errors.Is(err, api.ErrAlreadyExists):
		return child, fmt.Errorf("%w: child %s was spawned before with another kind or payload (a handler must spawn the same children on every attempt): %w", actors.ErrInvalidChild, name, err)
	case errors.Is(err, api.ErrInvalidArgument):
		return child, fmt.Errorf("%w: child %s: %w", actors.ErrInvalidChild, name, err)
	case err != nil:
		return child, fmt.Errorf("spawning child %s: %w", name, err)
	}
	return child, nil
}

// AwaitChildren implements actors.Parent. It waits for the children one
// after the other: a child that ended while an earlier one was awaited is
// answered from what the store (or its owner's push) already told this
// member, so a parent holds at most one watch at a time, however many
// children it has.
func (c *taskContext) AwaitChildren(children ...actors.Child) ([]actors.ChildResult, error) {
	stop := c.beatWhileWaiting()
	defer stop()
	out := make([]actors.ChildResult, 0, len(children))
	for _, ch := range children {
		rec, err := c.m.awaitEnd(c, ch.ID)
		if err != nil {
			return out, fmt.Errorf("awaiting child %s: %w", ch.Name, err)
		}
		out = append(out, childResult(ch, rec.Task))
	}
	return out, nil
}

// beatWhileWaiting heartbeats until the returned stop is called.
func (c *taskContext) beatWhileWaiting() (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(awaitBeat)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				c.Heartbeat()
			case <-done:
				return
			case <-c.Done():
				return
			}
		}
	}()
	return func() { close(done) }
}

// awaitEnd returns task id once it has ended (completed, failed or
// cancelled), watching it through the store: one watch, shared with every
// other waiter of this member on the same task, woken by the owner's push
// when it has one. The error is ctx's if it ends first.
func (m *Manager) awaitEnd(ctx context.Context, id string) (store.Record, error) {
	if err := checkID("task", id); err != nil {
		return store.Record{}, err
	}
	var after uint64
	var held bool
	for {
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if held {
			// Its job's end changes its job's record, not the task's:
			// look again at the job now and then.
			wctx, cancel = context.WithTimeout(ctx, heldRecheck)
		}
		rec, err := m.store.Watch(wctx, id, after)
		cancel()
		if ctx.Err() != nil {
			return store.Record{}, ctx.Err()
		}
		if held && errors.Is(err, context.DeadlineExceeded) {
			rec, err = m.store.Get(ctx, id)
		}
		if err != nil {
			return store.Record{}, storeErr(err)
		}
		if store.Terminal(rec.Task.GetStatus().GetState()) || m.heldByEndedJob(ctx, rec.Task) {
			return rec, nil
		}
		after, held = rec.Revision, rec.Task.GetStatus().GetJobHold() != ""
	}
}

// heldByEndedJob reports whether t waits, held, for a job that has ended:
// a job that fails leaves its children that failed held until it is
// stopped, and nothing will start them again.
func (m *Manager) heldByEndedJob(ctx context.Context, t *messages.Task) bool {
	if t.GetStatus().GetJobHold() == "" {
		return false
	}
	j, err := m.jobRecord(ctx, t.GetSpec().GetJobId())
	return err == nil && j != nil && (j.GetFailed() || jobRunEnd(j) != supervisor.EndNone)
}

// childResult is how child ended, as its record t says.
func childResult(child actors.Child, t *messages.Task) actors.ChildResult {
	st := t.GetStatus()
	r := actors.ChildResult{Child: child, State: api.StateName(st.GetState())}
	switch {
	case st.GetJobHold() != "": // held by its ended job: failed for good
		r.State = api.StateFailed
	case st.GetState() == messages.TaskState_TASK_STATE_COMPLETED:
		r.Result = st.GetResult()
		return r
	}
	r.Err = fmt.Errorf("%w: child %s %s: %s", actors.ErrChildFailed, child.ID, r.State, st.GetError())
	return r
}

// stopChildrenOf stops the child job of t, if t has ended failed or
// cancelled (not held for its own job, which may still restart it and
// whose next attempt would find its children again): its children must
// not outlive a parent that will never await them. A task that never
// spawned has no child job, and the stop is one store read.
func (m *Manager) stopChildrenOf(t *messages.Task) {
	st := t.GetStatus()
	if st.GetJobHold() != "" {
		return
	}
	if s := st.GetState(); s != messages.TaskState_TASK_STATE_FAILED && s != messages.TaskState_TASK_STATE_CANCELLED {
		return
	}
	id := t.GetSpec().GetId()
	job := actors.ChildJobID(id)
	if !validID(job) {
		return // too long an id to have had children
	}
	reason := fmt.Sprintf("parent task %s %s", id, api.StateName(st.GetState()))
	m.jobWork(func(ctx context.Context) {
		if _, err := m.StopJob(ctx, job, reason); err != nil && !errors.Is(err, api.ErrNotFound) {
			m.log.Warn("stopping the children of an ended task failed", "task", id, "job", job, "err", err)
		}
	})
}
