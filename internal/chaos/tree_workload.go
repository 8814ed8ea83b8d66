package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/granary-rt/granary/cluster/api"
)

// treeShutdown is the shutdown time of the campaign's nested jobs: long
// enough for a sleep attempt to see its cancellation and return, short
// enough that a restart across a paused member does not stall the tree.
const treeShutdown = time.Second

// submitTree declares a tree of jobs and submits its tasks (see doc.go):
//
//	ID            one_for_all or rest_for_one, 2 restarts; auto_shutdown any_significant one time in four
//	├── ID-a      child job, stage 0, one_for_one or one_for_all, 1 restart: two flaky tasks
//	│             failing 60% of their attempts, 2 attempts each (it fails often)
//	├── ID-b      child job, stage 1, one_for_all: two sleep tasks of 0.5-2.5 s
//	└── ID-t      a sleep task, stage 2 (significant under any_significant)
//
// One time in three the tree is stopped (DELETE /v1/jobs/ID) 0.5-3 s later.
func (w *Workload) submitTree(rng *rand.Rand, id string) {
	root := api.JobSpec{Strategy: []string{"one_for_all", "rest_for_one"}[rng.IntN(2)], MaxRestarts: 2, Shutdown: api.Ptr(api.Duration(treeShutdown))}
	auto := rng.IntN(4) == 0
	if auto {
		root.AutoShutdown = "any_significant"
	}
	jobs := []struct {
		id   string
		spec api.JobSpec
	}{
		{id, root},
		{id + "-a", api.JobSpec{Parent: id, Stage: 0, Strategy: []string{"one_for_one", "one_for_all"}[rng.IntN(2)], MaxRestarts: 1, Shutdown: root.Shutdown}},
		{id + "-b", api.JobSpec{Parent: id, Stage: 1, Strategy: "one_for_all", Shutdown: root.Shutdown}},
	}
	for _, j := range jobs {
		if !w.declare(rng, j.id, j.spec) {
			return // the tree is incomplete: its tasks would join nothing
		}
	}
	for i := range 2 {
		w.submit(rng, api.SubmitRequest{ID: fmt.Sprintf("%s-a%d", id, i), JobID: id + "-a", Kind: "flaky",
			Payload: json.RawMessage(fmt.Sprintf(`{"fail_rate":0.6,"seed":%d}`, rng.Uint32())),
			Policy:  &api.Policy{MaxAttempts: api.Ptr(2), BackoffInitial: api.Ptr(api.Duration(100 * time.Millisecond))}})
	}
	for i := range 2 {
		w.submit(rng, api.SubmitRequest{ID: fmt.Sprintf("%s-b%d", id, i), JobID: id + "-b", Kind: "sleep",
			Payload: json.RawMessage(fmt.Sprintf(`{"ms":%d}`, 500+rng.IntN(2000)))})
	}
	w.submit(rng, api.SubmitRequest{ID: id + "-t", JobID: id, JobStage: 2, Kind: "sleep", Significant: auto,
		Payload: json.RawMessage(fmt.Sprintf(`{"ms":%d}`, 500+rng.IntN(2000)))})
	if rng.IntN(3) == 0 {
		// Both drawn here: rng belongs to this submitter's goroutine.
		after, via := between(rng, 500*time.Millisecond, 3*time.Second), rng.IntN(len(w.c.Members))
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			if w.pace(after) {
				w.stopJob(via, id)
			}
		}()
	}
}

// declare declares a job through a random member, and on failure through
// the others in turn, until one answers; it reports whether one did.
func (w *Workload) declare(rng *rand.Rand, id string, spec api.JobSpec) bool {
	first := rng.IntN(len(w.c.Members))
	for try := range w.c.Members {
		m := w.c.Members[(first+try)%len(w.c.Members)]
		ctx, cancel := context.WithTimeout(w.ctx, opTimeout)
		_, err := m.Client.DeclareJob(ctx, id, spec)
		cancel()
		switch {
		case err == nil:
			w.h.AddJob(id, spec.Parent, spec.Strategy)
			w.mu.Lock()
			w.jobs = append(w.jobs, id)
			w.mu.Unlock()
			return true
		case errors.Is(err, api.ErrInvalidArgument) || errors.Is(err, api.ErrAlreadyExists):
			w.harnessError(fmt.Sprintf("declare job %s via %s: %v", id, m.ID, err))
			return false
		case w.ctx.Err() != nil:
			return false
		}
	}
	return false
}

// stopJob stops a tree through member first, and on failure through the
// others; the answer is not awaited past opTimeout (a stop still exiting
// answers at once).
func (w *Workload) stopJob(first int, id string) {
	for try := range w.c.Members {
		m := w.c.Members[(first+try)%len(w.c.Members)]
		ctx, cancel := context.WithTimeout(w.ctx, opTimeout)
		_, err := m.Client.StopJob(ctx, id, "chaos")
		cancel()
		if err == nil || w.ctx.Err() != nil {
			w.h.AddStop(id, err == nil)
			return
		}
	}
}
