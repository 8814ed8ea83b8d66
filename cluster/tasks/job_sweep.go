package tasks

import (
	"context"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/supervisor"
	"github.com/granary-rt/granary/supervisor/backoff"
)

// sweep carries out the machine's EffectSweep: off the actor, it lists the
// job's subtree as stored and answers with the live children it finds
// (EventSwept). The machine asks once its decision to shut down is
// stored, so a child stored after this listing reads that decision at its
// join gate (joingate.go) and does not start: between the two, no child
// of a job that ends runs on unseen. A listing that fails is tried again
// until the member stops (a new owner sweeps again).
func (a *jobActor) sweep() {
	m, id, answer := a.m, a.id, a.answer()
	m.jobs.Go(func() {
		for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
			ctx, cancel := context.WithTimeout(m.jobs.Context(), 3*m.cfg.StoreTimeout)
			strays, err := m.strays(ctx, id)
			cancel()
			if err == nil {
				answer(supervisor.JobEvent{Kind: supervisor.EventSwept, Strays: strays})
				return
			}
			m.log.Warn("job supervisor: sweeping the job's subtree failed; trying again", "job", id, "err", err)
			if m.closing.Load() || !backoff.Sleep(m.jobs.Context(), wait) { // the store's outage to pass
				return
			}
		}
	})
}

// strays lists what a sweep of job id finds: its tasks that have not
// finished (Status ChildStopped for those held for their job, ChildRunning
// for the others), and its child jobs that run, or have unfinished tasks below
// them (a task joined one that had completed).
func (m *Manager) strays(ctx context.Context, id string) ([]supervisor.JobChild, error) {
	live, err := m.unfinishedTasks(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []supervisor.JobChild
	for _, r := range live {
		c := taskChild(r.Task)
		if r.Task.GetStatus().GetJobHold() != "" {
			c.Status = supervisor.ChildStopped // held: it waits for its job
		}
		out = append(out, c)
	}
	// The subtree as deep as subtreeRuns looks (its children's, then
	// MaxJobDepth levels below them), below the jobs that ended only: one
	// that runs is a stray whatever is below it.
	ended := func(j store.JobRecord) bool { return j.Job.GetRun().GetPhase() == supervisor.PhaseDone.String() }
	below, err := m.subtreeJobs(ctx, id, MaxJobDepth+1, ended)
	if err != nil {
		return nil, err
	}
	for _, j := range below[id] {
		running, err := m.subtreeRuns(ctx, j, below, MaxJobDepth)
		if err != nil {
			return nil, err
		}
		if running {
			out = append(out, jobChild(j.Job))
		}
	}
	return out, nil
}

// subtreeRuns reports whether job j runs (its record says it has not
// ended) or has unfinished tasks in its subtree, depth levels deep at
// most.
func (m *Manager) subtreeRuns(ctx context.Context, j store.JobRecord, below map[string][]store.JobRecord, depth int) (bool, error) {
	if j.Job.GetRun().GetPhase() != supervisor.PhaseDone.String() {
		return true, nil
	}
	live, err := m.unfinishedTasks(ctx, j.Job.GetId())
	if err != nil || len(live) > 0 || depth <= 0 {
		return len(live) > 0, err
	}
	for _, c := range below[j.Job.GetId()] {
		if running, err := m.subtreeRuns(ctx, c, below, depth-1); err != nil || running {
			return running, err
		}
	}
	return false, nil
}

// unfinishedTasks lists the tasks of job id that have not finished.
func (m *Manager) unfinishedTasks(ctx context.Context, id string) ([]store.Record, error) {
	all, err := m.store.List(ctx, store.Filter{JobID: id})
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, r := range all {
		if !store.Terminal(r.Task.GetStatus().GetState()) {
			out = append(out, r)
		}
	}
	return out, nil
}

// reroute sends an event this actor will not handle (it has quit) to
// whoever runs the job now; a sweep's answer is dropped: it answers this
// actor's machine, and the next one sweeps again (Resume).
func (a *jobActor) reroute(ev supervisor.JobEvent) {
	if ev.Kind != supervisor.EventSwept {
		a.m.routeJobAsync(a.id, ev)
	}
}
