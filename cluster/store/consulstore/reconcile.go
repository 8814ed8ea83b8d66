package consulstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/internal/kvtxn"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/hashicorp/consul/api"
)

// Reconciling the submission-time index with the tasks (bytime.go): a
// task without its entry is left out of every listing that walks the
// index. A store of this version never writes one, but tasks stored
// before the index existed have none, and neither have tasks a member of
// an older version creates during a rolling upgrade. Reconcile finds them
// from key listings only (Consul's ?keys: the task keys, then the index
// entries, a few megabytes for 100,000 tasks), reads only the tasks that
// lack an entry (getMany), and writes their entries, as Create would.
//
// A store runs it in the background (never on the start path, never in a
// listing): once when it opens (retried with backoff until it succeeds),
// then again after ReconcileSoon, doubling up to ReconcileEvery while the
// runs find nothing missing, and back to ReconcileSoon after a run that
// found some (an older member still writing tasks). The members share the
// periodic runs through a due time under bytime-reconcile, claimed with
// check-and-set: once per period in the whole cluster, not once per
// member. Listings walk the index once bytime-ready exists, which the
// first complete reconcile writes; until then (a cluster upgraded from a
// version without the index) they read every task, as before the index.
//
// Races: the task keys are listed before the entries, so a task created
// meanwhile by this version has its entry in the second listing, and one
// created by an older member is found next time; an entry written for a
// task deleted meanwhile is an orphan, skipped and deleted by the walk
// that meets it. Entries whose task is missing from the listing are
// deleted too (in a transaction checking that the task does not exist),
// except those submitted lately (orphanMinAge), which may belong to a task
// created between the two listings.

// orphanMinAge: an entry submitted more recently than this before a
// reconcile's task listing is not taken for an orphan by it (its task may
// have been created after the listing, or by a member whose clock runs
// ahead); a later run, or the walk, heals it.
const orphanMinAge = 10 * time.Minute

// reconcileChunk tasks lacking an entry are read (getMany) at once: four
// read transactions' worth, which bounds the memory of a run that indexes
// a whole cluster of older tasks.
const reconcileChunk = 4 * kvtxn.MaxOps

// reconcileLoad bounds the share of time spent reconciling: the next run
// comes no sooner than this many times the last run's duration after it
// (100: at most about 1%, however many tasks are stored).
const reconcileLoad = 100

// Reconciled is what a reconcile found and did.
type Reconciled struct {
	// Tasks and Entries are the task keys and index entries listed.
	Tasks, Entries int
	// Indexed is how many tasks lacking an entry were given one.
	Indexed int
	// Orphans is how many entries whose task is gone were deleted.
	Orphans int
	// ChildJobs is how many job records lacking their entry in the child
	// jobs index were given one (jobkids.go).
	ChildJobs int
	// Took is how long the run took.
	Took time.Duration
}

func (s *Store) reconcileKey() string { return s.prefix + "bytime-reconcile" }

// Reconcile gives every task lacking a submission-time entry its entry,
// deletes entries whose task is gone, and, the first time it completes,
// writes bytime-ready, from which on listings walk the index. It reads
// the values of the tasks lacking an entry only. It reconciles the child
// jobs index likewise (jobkids.go). A store runs it by itself
// (see Config.ReconcileEvery); it is safe to run on several members at
// once (they write the same entries).
func (s *Store) Reconcile(ctx context.Context) (Reconciled, error) {
	var r Reconciled
	err := s.check(ctx)
	if err != nil {
		return r, err
	}
	start := time.Now()
	// The child jobs index too (jobkids.go).
	if r.ChildJobs, err = s.reconcileChildJobs(ctx); err != nil {
		return r, err
	}
	q := s.readOptions(ctx, false)
	// The tasks first (see the races above).
	tasksPrefix := s.prefix + "tasks/"
	taskKeys, _, err := s.kv.Keys(tasksPrefix, "/", q)
	if err != nil {
		return r, s.wrap(err)
	}
	entryKeys, _, err := s.kv.Keys(s.prefix+"bytime/", "", q)
	if err != nil {
		return r, s.wrap(err)
	}
	r.Tasks, r.Entries = len(taskKeys), len(entryKeys)
	indexed := make(map[string]bool, len(entryKeys))
	var entries []store.Position
	for _, k := range entryKeys {
		if p, ok := s.positionOfKey(k); ok {
			indexed[p.ID] = true
			entries = append(entries, p)
		}
	}
	entryKeys = nil
	tasks := make(map[string]bool, len(taskKeys))
	var missing []string
	for _, k := range taskKeys {
		id, err := url.PathUnescape(strings.TrimPrefix(k, tasksPrefix))
		if err != nil || id == "" || strings.HasSuffix(k, "/") {
			continue // not a task key of this store
		}
		tasks[id] = true
		if !indexed[id] {
			missing = append(missing, id)
		}
	}
	taskKeys, indexed = nil, nil

	for len(missing) > 0 {
		n := min(len(missing), reconcileChunk)
		got, err := s.indexTasks(ctx, missing[:n])
		r.Indexed += got
		if err != nil {
			r.Took = time.Since(start)
			return r, err
		}
		missing = missing[n:]
	}

	var orphans []store.Position
	for _, p := range entries {
		if !tasks[p.ID] && start.Sub(p.SubmittedAt) > orphanMinAge {
			orphans = append(orphans, p)
		}
	}
	r.Orphans = s.healEntries(ctx, orphans)

	if !s.ready.Load() {
		if _, err := s.kv.Put(&api.KVPair{Key: s.readyKey(), Value: []byte("1")}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
			r.Took = time.Since(start)
			return r, s.wrap(err)
		}
		s.ready.Store(true)
	}
	r.Took = time.Since(start)
	return r, nil
}

// indexTasks reads these tasks and writes the entries of those still
// stored, each transaction with the hour keys of its entries (so that a
// prune of an hour that looked empty fails: pruneHour). It returns how
// many it wrote.
func (s *Store) indexTasks(ctx context.Context, ids []string) (int, error) {
	recs, err := s.getMany(ctx, ids)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil {
			return 0, err
		}
		// A record that does not decode fails its whole read: read these
		// one by one, leaving such records out (List reports them).
		recs = recs[:0]
		for _, id := range ids {
			rec, err := s.Get(ctx, id)
			switch {
			case err == nil:
				recs = append(recs, rec)
			case errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil:
				return 0, err
			}
		}
	}
	asked := make(map[string]bool, len(ids))
	for _, id := range ids {
		asked[id] = true
	}
	var ops api.KVTxnOps
	hours := map[string]bool{}
	written, pending := 0, 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		ok, resp, _, err := s.kv.Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
		ops, hours = ops[:0], map[string]bool{}
		if err != nil {
			return s.wrap(err)
		}
		if !ok {
			return fmt.Errorf("consulstore: indexing tasks: %v", txnErrors(resp))
		}
		written += pending
		pending = 0
		return nil
	}
	for _, rec := range recs {
		if len(ops)+2 > kvtxn.MaxOps {
			if err := flush(); err != nil {
				return written, err
			}
		}
		pos := store.PositionOf(rec.Task)
		if !asked[pos.ID] {
			continue // stored under another id's key: not a task of its own
		}
		ops = append(ops, &api.KVTxnOp{Verb: api.KVSet, Key: s.timeKey(pos)})
		if hour := pathOf(pos).hour; !hours[hour] {
			hours[hour] = true
			ops = append(ops, &api.KVTxnOp{Verb: api.KVSet, Key: s.hourDirKey(hour)})
		}
		pending++
	}
	return written, flush()
}

// healEntries deletes these entries, each in a transaction that checks
// its task does not exist (several per transaction; one whose check fails
// is then tried alone). It returns how many it deleted (best effort).
func (s *Store) healEntries(ctx context.Context, orphans []store.Position) int {
	deleted := 0
	for len(orphans) > 0 {
		n := min(len(orphans), kvtxn.MaxOps/2)
		chunk := orphans[:n]
		orphans = orphans[n:]
		ops := make(api.KVTxnOps, 0, 2*n)
		for _, p := range chunk {
			ops = append(ops,
				&api.KVTxnOp{Verb: api.KVCheckNotExists, Key: s.taskKey(p.ID)},
				&api.KVTxnOp{Verb: api.KVDelete, Key: s.timeKey(p)})
		}
		ok, _, _, err := s.kv.Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
		switch {
		case err != nil:
			return deleted
		case ok:
			deleted += n
		default:
			for _, p := range chunk {
				if s.healEntry(ctx, p) {
					deleted++
				}
			}
		}
	}
	return deleted
}

// reconcileLoop runs Reconcile in the background until Close: at once,
// then as the file's comment says.
func (s *Store) reconcileLoop() {
	defer s.bg.Done()
	ctx := s.bgCtx
	every, soon := s.cfg.ReconcileEvery, s.cfg.ReconcileSoon
	log := s.cfg.Logger
	interval := soon // after a run finding nothing missing: doubled, up to every
	failures := 0
	claimed := true // the run at open is this member's own
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if !claimed {
			wait, err := s.claimReconcile(ctx, interval)
			if err == nil && wait > 0 {
				// Another member ran it, or claimed it: wake when it is due
				// (a member that finds tasks lacking entries makes it due
				// soon, and claims it itself then).
				timer.Reset(jitter(min(wait, every)))
				continue
			}
		}
		first := !s.ready.Load()
		r, err := s.Reconcile(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			backoff := min(time.Second<<min(failures-1, 16), every)
			log.Warn("consulstore: reconciling the submission-time index failed; retrying", "err", err, "retry_in", backoff.String(), "indexed", r.Indexed)
			claimed = !s.ready.Load() // until the index is complete once, retry on this member's own
			timer.Reset(jitter(backoff))
			continue
		}
		failures, claimed = 0, false
		if r.Indexed > 0 || r.ChildJobs > 0 {
			interval = soon // an older member may still be writing records without entries
		} else {
			interval = min(2*interval, every)
		}
		interval = max(interval, reconcileLoad*r.Took)
		s.setReconcileDue(ctx, time.Now().Add(interval))
		level := log.Debug
		if first || r.Indexed > 0 || r.Orphans > 0 || r.ChildJobs > 0 {
			level = log.Info
		}
		level("consulstore: submission-time index reconciled", "tasks", r.Tasks, "entries", r.Entries,
			"indexed", r.Indexed, "orphans", r.Orphans, "child_jobs_indexed", r.ChildJobs, "took", r.Took.String(), "next_in", interval.String())
		timer.Reset(jitter(interval))
	}
}

// claimReconcile claims the cluster's next periodic reconcile: if it is
// not due yet, it returns how long until it is; otherwise it moves the due
// time interval ahead, with check-and-set, and returns 0 if that
// succeeded (this member runs it) or interval if another member claimed
// it first.
func (s *Store) claimReconcile(ctx context.Context, interval time.Duration) (time.Duration, error) {
	pair, _, err := s.kv.Get(s.reconcileKey(), s.readOptions(ctx, false))
	if err != nil {
		return 0, s.wrap(err)
	}
	var idx uint64
	if pair != nil {
		idx = pair.ModifyIndex
		if due, err := time.Parse(time.RFC3339Nano, string(pair.Value)); err == nil {
			if wait := time.Until(due); wait > 0 {
				return wait, nil
			}
		}
	}
	ok, _, err := s.kv.CAS(&api.KVPair{Key: s.reconcileKey(), Value: []byte(time.Now().Add(interval).UTC().Format(time.RFC3339Nano)), ModifyIndex: idx},
		(&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return 0, s.wrap(err)
	}
	if !ok {
		return interval, nil
	}
	return 0, nil
}

// setReconcileDue writes when the next periodic reconcile is due (best
// effort: a member finding no due time runs one).
func (s *Store) setReconcileDue(ctx context.Context, due time.Time) {
	_, _ = s.kv.Put(&api.KVPair{Key: s.reconcileKey(), Value: []byte(due.UTC().Format(time.RFC3339Nano))}, (&api.WriteOptions{}).WithContext(ctx))
}

// jitter spreads d by ±10%, so that members started together do not ask
// together.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d - d/10 + rand.N(d/5+1)
}
