package tasks

import (
	"context"
	"errors"
	"time"

	"github.com/granary-rt/granary/cluster/store"
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

// sweep deletes the finished tasks past retention, then the records of
// jobs left without tasks, each with a check-and-set on its revision, and
// returns how many it deleted.
func (m *Manager) sweep(ctx context.Context) (int, error) {
	recs, err := m.store.List(ctx, store.Filter{})
	if err != nil {
		return 0, err
	}
	now := m.now()
	gone := map[string]bool{}
	n := 0
	for _, r := range Expired(recs, now, m.cfg.Retention) {
		err := m.store.Delete(ctx, r.Task.GetSpec().GetId(), r.Revision)
		switch {
		case err == nil:
			n++
			gone[r.Task.GetSpec().GetId()] = true
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
			// another janitor got there first
		default:
			return n, err
		}
	}
	live := map[string]bool{}
	for _, r := range recs {
		if !gone[r.Task.GetSpec().GetId()] && r.Task.GetSpec().GetJobId() != "" {
			live[r.Task.GetSpec().GetJobId()] = true
		}
	}
	jobs, err := m.store.ListJobs(ctx)
	if err != nil {
		return n, err
	}
	for _, j := range ExpiredJobs(jobs, live, now, m.cfg.Retention) {
		err := m.store.DeleteJob(ctx, j.Job.GetId(), j.Revision)
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
