package tasks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
)

// MaxDependencies bounds the tasks one task depends on, a job stage
// counting as its tasks: they are stored in the task's record, and each is
// awaited in turn before its first attempt.
const MaxDependencies = 100

// A dependency on a job stage is spelt job:<id>/stage:<n>. No task id
// holds a '/', so the spelling cannot be mistaken for one.
const (
	stageDepPrefix = "job:"
	stageDepInfix  = "/stage:"
)

// StageDependency spells the dependency on stage of job.
func StageDependency(job string, stage int) string {
	return stageDepPrefix + job + stageDepInfix + strconv.Itoa(stage)
}

// parseStageDependency reads job:<id>/stage:<n>; ok false for a task id.
func parseStageDependency(dep string) (job string, stage int, ok bool, err error) {
	if !strings.Contains(dep, "/") {
		return "", 0, false, nil
	}
	rest, found := strings.CutPrefix(dep, stageDepPrefix)
	job, n, found2 := strings.Cut(rest, stageDepInfix)
	if !found || !found2 {
		return "", 0, true, fmt.Errorf("dependency %.140q is neither a task id nor a job stage (job:<id>/stage:<n>)", dep)
	}
	if stage, err = strconv.Atoi(n); err != nil || stage < 0 || stage > maxJobStage || !validID(job) {
		return "", 0, true, fmt.Errorf("dependency %.140q: want job:<id>/stage:<n>, a job id matching %s and a stage of 0 to %d", dep, taskIDPattern, maxJobStage)
	}
	return job, stage, true, nil
}

// checkDependsOn is the pure check of a task's stored dependencies (ids
// only, stages expanded): at most MaxDependencies distinct valid ids, none
// the task itself.
func checkDependsOn(id string, deps []string) error {
	if len(deps) > MaxDependencies {
		return fmt.Errorf("%d dependencies (job stages counted as their tasks), the limit is %d", len(deps), MaxDependencies)
	}
	seen := make(map[string]bool, len(deps))
	for _, d := range deps {
		switch {
		case !validID(d):
			return fmt.Errorf("dependency %.140q must be a task id matching %s or a job stage (job:<id>/stage:<n>)", d, taskIDPattern)
		case d == id:
			return fmt.Errorf("task %s cannot depend on itself", id)
		case seen[d]:
			return fmt.Errorf("dependency %s is named twice", d)
		}
		seen[d] = true
	}
	return nil
}

// resolveDependencies turns a submission's dependencies into the task ids
// to store: a job stage becomes the ids of the tasks the stage holds now,
// and every id must name a stored task. So a task depends only on tasks
// that existed before it, and no cycle can form. Errors wrap
// api.ErrInvalidArgument (an unknown task or job, a stage with no task) or
// the store's.
func (m *Manager) resolveDependencies(ctx context.Context, deps []string) ([]string, error) {
	invalid := func(err error) error { return fmt.Errorf("%w: %w", api.ErrInvalidArgument, err) }
	if len(deps) > MaxDependencies {
		return nil, invalid(fmt.Errorf("%d dependencies, the limit is %d", len(deps), MaxDependencies))
	}
	var out []string
	for _, d := range deps {
		job, stage, isStage, err := parseStageDependency(d)
		if err != nil {
			return nil, invalid(err)
		}
		if !isStage {
			if err := checkID("dependency", d); err != nil {
				return nil, err
			}
			if _, err := m.store.Get(ctx, d); errors.Is(err, store.ErrNotFound) {
				return nil, invalid(fmt.Errorf("dependency %s does not exist: submit it first (a task depends only on tasks that exist, so dependencies cannot form a cycle)", d))
			} else if err != nil {
				return nil, storeErr(err)
			}
			out = append(out, d)
			continue
		}
		ids, err := m.stageTasks(ctx, job, stage)
		if err != nil {
			return nil, err
		}
		out = append(out, ids...)
	}
	return out, nil
}

// stageTasks lists the ids of the tasks of job's stage; none is an error.
func (m *Manager) stageTasks(ctx context.Context, job string, stage int) ([]string, error) {
	recs, err := m.store.List(ctx, store.Filter{JobID: job})
	if err != nil {
		return nil, storeErr(err)
	}
	var ids []string
	for _, r := range recs {
		if int(r.Task.GetSpec().GetJobStage()) == stage {
			ids = append(ids, r.Task.GetSpec().GetId())
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: job %s has no task in stage %d: submit them first", api.ErrInvalidArgument, job, stage)
	}
	return ids, nil
}

// Messages from a task's dependency wait to its actor.
type (
	// depsReady: every dependency completed.
	depsReady struct{}
	// depsBroken: a dependency failed for good or was cancelled.
	depsBroken struct{ reason string }
)

// depWait is a task actor's wait for its dependencies.
type depWait struct {
	ready  bool               // all completed: the first attempt may start
	cancel context.CancelFunc // set while waiting
}

func (d *depWait) stop() {
	if d.cancel != nil {
		d.cancel()
		d.cancel = nil
	}
}

// waitingNote is the status's waiting text of a task waiting for deps.
func waitingNote(deps []string) string {
	note := "waiting for dependencies: " + strings.Join(deps, ", ")
	if len(note) > 200 {
		note = fmt.Sprintf("waiting for %d dependencies: %s, …", len(deps), strings.Join(deps[:3], ", "))
	}
	return note
}

// waitForDeps holds back the first attempt of a task whose dependencies
// have not all completed (true: held): it records the wait in the task's
// status (claiming it, if loaded unclaimed) and awaits them off the
// actor, which hears the outcome as depsReady or depsBroken.
func (a *taskActor) waitForDeps(p plan) bool {
	deps := a.rec.Task.GetSpec().GetDependsOn()
	if p.step != stepStart || len(deps) == 0 || a.rec.Task.GetStatus().GetAttempts() > 0 || a.deps.ready {
		return false
	}
	if a.deps.cancel != nil {
		return true // waiting already
	}
	if note := waitingNote(deps); a.unclaimed || a.rec.Task.GetStatus().GetWaiting() != note {
		if err := a.write(func(t *messages.Task) { t.Status.Waiting = note }); err != nil {
			a.writeFailed("record the wait for dependencies", err)
			return true
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.deps.cancel = cancel
	self, system, m := a.self, a.c().ActorSystem(), a.m
	go func() {
		if msg := m.awaitDependencies(ctx, deps); msg != nil {
			system.Root.Send(self, msg)
		}
	}()
	return true
}

// receiveDeps handles the outcome of the wait (true: msg was one).
func (a *taskActor) receiveDeps(msg any) bool {
	switch msg := msg.(type) {
	case *depsReady:
		a.deps.cancel, a.deps.ready = nil, true
		a.begin(nil)
	case *depsBroken:
		a.deps.cancel = nil
		a.cancel(msg.reason)
	default:
		return false
	}
	return true
}

// depRetry is the pause before a dependency's watch is asked again after
// the store failed it.
const depRetry = time.Second

// awaitDependencies waits for deps one after the other (awaitEnd: one
// watch at a time, shared with this member's other waiters on the same
// task, woken by pushes): depsReady once all completed, depsBroken for the
// first that did not, nil if ctx ended.
func (m *Manager) awaitDependencies(ctx context.Context, deps []string) any {
	for i := 0; i < len(deps); {
		rec, err := m.awaitEnd(ctx, deps[i])
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, api.ErrNotFound):
			return &depsBroken{reason: fmt.Sprintf("dependency %s no longer exists", deps[i])}
		case err != nil:
			m.log.Debug("watching a dependency failed; watching again", "dependency", deps[i], "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(depRetry):
			}
			continue
		}
		if r := childResult(actors.Child{ID: deps[i]}, rec.Task); r.Err != nil {
			return &depsBroken{reason: fmt.Sprintf("dependency %s %s: %s", deps[i], r.State, rec.Task.GetStatus().GetError())}
		}
		i++
	}
	return &depsReady{}
}

// createWaiting stores a new task with dependencies, or one submitted to
// start later, pending and starts its actor, which waits for them (for its
// start time on the backoff timer: planLoad): createOwned's running first
// attempt (and its unstored hold) is for tasks that may start at once.
func (m *Manager) createWaiting(ctx context.Context, t *messages.Task, from string) (store.Record, bool, error) {
	rec, created, err := m.store.Create(ctx, t)
	if err != nil || !created {
		return m.submitAnswer(t, rec, created, err)
	}
	pre := rec
	m.system.Root.Send(m.root, &activate{id: t.GetSpec().GetId(), rec: &pre, from: from})
	return rec, true, nil
}

var _ actors.Dependent = (*taskContext)(nil)

// Dependencies implements actors.Dependent.
func (c *taskContext) Dependencies() []string { return slices.Clone(c.deps) }

// DependencyResult implements actors.Dependent: the committed result of
// dependency id, read from the store.
func (c *taskContext) DependencyResult(id string) ([]byte, error) {
	if !slices.Contains(c.deps, id) {
		return nil, fmt.Errorf("%w: %.140s is not a dependency of task %s", actors.ErrNotDependency, id, c.id)
	}
	rec, err := c.m.store.Get(c, id)
	if err != nil {
		return nil, fmt.Errorf("reading dependency %s: %w", id, storeErr(err))
	}
	if st := rec.Task.GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_COMPLETED {
		return nil, fmt.Errorf("%w: dependency %s is %s", actors.ErrNotDependency, id, api.StateName(st.GetState()))
	}
	return rec.Task.GetStatus().GetResult(), nil
}
