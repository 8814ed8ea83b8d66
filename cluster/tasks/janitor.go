package tasks

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
)

// Expired is the pure retention rule: the finished tasks among recs whose
// finish lies more than retention before now.
func Expired(recs []store.Record, now time.Time, retention time.Duration) []store.Record {
	var out []store.Record
	for _, r := range recs {
		st := r.Task.GetStatus()
		if store.Terminal(st.GetState()) && st.GetFinishedAt() != nil && now.Sub(st.GetFinishedAt().AsTime()) > retention {
			out = append(out, r)
		}
	}
	return out
}

// ExpiredJobs is the pure retention rule of job records: those not
// written for longer than retention whose job has no task left (live lists
// the jobs that still have tasks).
func ExpiredJobs(jobs []store.JobRecord, live map[string]bool, now time.Time, retention time.Duration) []store.JobRecord {
	var out []store.JobRecord
	for _, j := range jobs {
		if !live[j.Job.GetId()] && now.Sub(j.Job.GetUpdatedAt().AsTime()) > retention {
			out = append(out, j)
		}
	}
	return out
}

// sweepPage is how many candidates a sweep lists at a time: a page of
// records in memory however many are due (after an outage of the janitor,
// say), a few read transactions of Consul's each.
const sweepPage = 512

// Candidates is the listing of the tasks that can be due for deletion at
// now: finished ones submitted more than retention ago (a task finishes
// after its submission, so no other can be past retention), oldest first,
// a page at a time from after (nil: the oldest). The stores answer it from
// their submission-time index, reading only those tasks. A task submitted
// long ago that finished recently is among them and kept by Expired,
// until a later sweep.
func Candidates(now time.Time, retention time.Duration, after *store.Position) store.Filter {
	return store.Filter{
		States:          []messages.TaskState{messages.TaskState_TASK_STATE_COMPLETED, messages.TaskState_TASK_STATE_FAILED, messages.TaskState_TASK_STATE_CANCELLED},
		SubmittedBefore: now.Add(-retention),
		Order:           store.OldestFirst,
		After:           after,
		Limit:           sweepPage,
	}
}

// sweep is the janitor's sweep of its store at its clock's now.
func (m *Manager) sweep(ctx context.Context) (int, error) {
	return Sweep(ctx, m.store, m.now(), m.cfg.Retention)
}

// Sweep deletes from st the finished tasks past retention at now, then the
// records of jobs left without tasks, each with a check-and-set on its
// revision, and returns how many it deleted. It reads only the candidates
// (Candidates) and, for each job record past retention, whether its job
// has a task. Sweeps may run concurrently (a janitor changing hands): a
// record another deleted first is skipped.
func Sweep(ctx context.Context, st store.Store, now time.Time, retention time.Duration) (int, error) {
	n := 0
	var after *store.Position
	for {
		recs, err := st.List(ctx, Candidates(now, retention, after))
		if err != nil {
			return n, err
		}
		deleted, err := deleteExpired(ctx, st, Expired(recs, now, retention))
		if n += deleted; err != nil {
			return n, err
		}
		if len(recs) < sweepPage {
			break
		}
		p := store.PositionOf(recs[len(recs)-1].Task)
		after = &p
	}
	jobs, err := st.ListJobs(ctx)
	if err != nil {
		return n, err
	}
	live := map[string]bool{}
	for _, j := range ExpiredJobs(jobs, nil, now, retention) {
		left, err := st.List(ctx, store.Filter{JobID: j.Job.GetId(), Limit: 1})
		if err != nil {
			return n, err
		}
		live[j.Job.GetId()] = len(left) > 0
	}
	for _, j := range ExpiredJobs(jobs, live, now, retention) {
		err := st.DeleteJob(ctx, j.Job.GetId(), j.Revision)
		switch {
		case err == nil:
			n++
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		default:
			return n, err
		}
	}
	return n, nil
}

// sweepDeletes is how many deletes a sweep has in flight at once, so that
// the store's write batcher commits several in one transaction (Consul:
// kvtxn). One at a time, a sweep deleted about 440 tasks/s at 1,000,000
// stored (2.3 ms each, 1.5 ms of Consul's CPU), fewer than the cluster
// stored (1,743/s): tasks would pile up past their retention. 32 at a
// time deleted 1,790/s at 100,000, 128 at a time 3,040/s (0.24 ms of
// Consul's CPU each), as many as the 128 callers that stored them.
const sweepDeletes = 128

// deleteExpired deletes recs from st, sweepDeletes at a time, and returns
// how many it deleted and the first error other than a conflict or a
// record already gone (another janitor got there first).
func deleteExpired(ctx context.Context, st store.Store, recs []store.Record) (int, error) {
	var (
		mu      sync.Mutex
		deleted int
		first   error
		wg      sync.WaitGroup
	)
	sem := make(chan struct{}, sweepDeletes)
	for _, r := range recs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := st.Delete(ctx, r.Task.GetSpec().GetId(), r.Revision)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				deleted++
			case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
			case first == nil:
				first = err
			}
		}()
	}
	wg.Wait()
	return deleted, first
}

// runJanitor sweeps every JanitorEvery while this member is the janitor.
func (m *Manager) runJanitor(stop <-chan struct{}) {
	tick := time.NewTicker(m.cfg.JanitorEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if m.fenced() || (m.cfg.Janitor != nil && !m.cfg.Janitor()) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.JanitorEvery)
		n, err := m.sweep(ctx)
		cancel()
		if err != nil {
			m.log.Warn("retention sweep failed", "err", err, "deleted", n)
		} else if n > 0 {
			m.log.Info("retention sweep", "deleted", n, "retention", m.cfg.Retention)
		}
	}
}
