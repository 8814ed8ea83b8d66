package consulstore

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/granary-rt/granary/cluster/internal/kvtxn"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/hashicorp/consul/api"
)

// The child jobs index: each job with a parent has an empty key
// granary/<cluster>/jobkids/<parent>/<child>, set in the transaction of
// every write of its record and deleted in the transaction that deletes
// the record (records.go), so ListChildJobs lists one parent's keys and
// reads those records only, in read-only transactions (readMany), not
// every job record as ListJobs does.
//
// Records stored by a version without the index have no entries: those
// stored before the upgrade, and those a member of the previous release
// writes during a rolling upgrade. Each reconcile (reconcile.go) lists the
// job keys and the entries (keys only), reads the records of the jobs that
// have no entry and that this process has not read as roots before, and
// sets the entries of those with a parent; the first complete run then
// writes jobkids-ready. Until a store has seen that marker, ListChildJobs
// reads every job record and picks the children, as before the index:
// correct during the upgrade, and only as slow as before it. After it, a
// child job an older member stores is listed once the next reconcile
// indexes it (within ReconcileSoon of a run that found one, ReconcileEvery
// at worst), or once a member of this version writes its record (which it
// does at each step of the job's supervision), as the submission-time
// index treats an older member's tasks. An entry whose record is gone (an
// older member deleted it) is skipped by listings and deleted by the
// reconcile, in a transaction that checks the record does not exist.

func (s *Store) childJobsPrefix(parent string) string {
	return s.prefix + "jobkids/" + url.PathEscape(parent) + "/"
}

func (s *Store) childJobsReadyKey() string { return s.prefix + "jobkids-ready" }

// childJobEntry is j's entry in the index, "" for a root job.
func childJobEntry(s *Store, j *messages.Job) string {
	if j.GetParent() == "" {
		return ""
	}
	return s.childJobsPrefix(j.GetParent()) + url.PathEscape(j.GetId())
}

// ListChildJobs implements store.Store.
func (s *Store) ListChildJobs(ctx context.Context, parent string) ([]store.JobRecord, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if parent == "" {
		return []store.JobRecord{}, nil
	}
	ready, err := s.childJobsIndexed(ctx)
	if err != nil {
		return nil, err
	}
	if !ready {
		return s.scanChildJobs(ctx, parent)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	q := s.readOptions(ctx, false)
	prefix := s.childJobsPrefix(parent)
	entries, _, err := s.kv.Keys(prefix, "", q)
	if err != nil {
		return nil, s.wrap(err)
	}
	keys := make([]string, 0, len(entries))
	for _, k := range entries {
		if id, err := url.PathUnescape(strings.TrimPrefix(k, prefix)); err == nil && id != "" {
			keys = append(keys, jobRecords.key(s, id))
		}
	}
	pairs, err := s.readMany(q, keys)
	if err != nil {
		return nil, err
	}
	out := make([]store.JobRecord, 0, len(pairs))
	for _, p := range pairs {
		j, rev, err := jobRecords.decode(p)
		if err != nil {
			return nil, err
		}
		if j.GetParent() == parent {
			out = append(out, store.JobRecord{Job: j, Revision: rev})
		}
	}
	slices.SortFunc(out, func(a, b store.JobRecord) int { return strings.Compare(a.Job.GetId(), b.Job.GetId()) })
	return out, nil
}

// childJobsIndexed reports whether the index holds every child job: this
// process saw jobkids-ready, or sees it now.
func (s *Store) childJobsIndexed(ctx context.Context) (bool, error) {
	if s.kidsReady.Load() {
		return true, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	pair, _, err := s.kv.Get(s.childJobsReadyKey(), s.readOptions(ctx, false))
	if err != nil {
		return false, s.wrap(err)
	}
	if pair != nil {
		s.kidsReady.Store(true)
	}
	return pair != nil, nil
}

// scanChildJobs picks parent's children out of every job record: the
// listing before the index is complete.
func (s *Store) scanChildJobs(ctx context.Context, parent string) ([]store.JobRecord, error) {
	out := []store.JobRecord{}
	err := jobRecords.list(s, ctx, func(j *messages.Job, rev uint64) {
		if j.GetParent() == parent {
			out = append(out, store.JobRecord{Job: j, Revision: rev})
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// reconcileChildJobs gives every job with a parent its entry and deletes
// entries whose record is gone (see the top of this file), then writes
// jobkids-ready if it is missing. It returns how many entries it set.
// Several members may run it at once: they set the same entries.
func (s *Store) reconcileChildJobs(ctx context.Context) (int, error) {
	q := s.readOptions(ctx, false)
	// The records first: a job stored between the two listings has its
	// entry in the second (this version) or is found next time (an older
	// member's).
	jobsPrefix := s.prefix + jobRecords.dir
	jobKeys, _, err := s.kv.Keys(jobsPrefix, "/", q)
	if err != nil {
		return 0, s.wrap(err)
	}
	kidsPrefix := s.prefix + "jobkids/"
	entryKeys, _, err := s.kv.Keys(kidsPrefix, "", q)
	if err != nil {
		return 0, s.wrap(err)
	}
	indexed := make(map[string]string, len(entryKeys)) // child id -> its entry
	for _, k := range entryKeys {
		if i := strings.LastIndexByte(k, '/'); i >= len(kidsPrefix) {
			if id, err := url.PathUnescape(k[i+1:]); err == nil {
				indexed[id] = k
			}
		}
	}
	stored := make(map[string]bool, len(jobKeys))
	var unread []string
	s.kidsMu.Lock()
	for _, k := range jobKeys {
		id, err := url.PathUnescape(strings.TrimPrefix(k, jobsPrefix))
		if err != nil || id == "" || strings.HasSuffix(k, "/") {
			continue
		}
		stored[id] = true
		if indexed[id] == "" && !s.roots[id] {
			unread = append(unread, k)
		}
	}
	for id := range s.roots {
		if !stored[id] {
			delete(s.roots, id) // deleted: the set stays as large as the jobs stored
		}
	}
	s.kidsMu.Unlock()
	set, err := s.indexChildJobs(ctx, q, unread)
	if err != nil {
		return set, err
	}
	for id, k := range indexed {
		if !stored[id] {
			s.healChildEntry(ctx, id, k)
		}
	}
	if !s.kidsReady.Load() {
		if _, err := s.kv.Put(&api.KVPair{Key: s.childJobsReadyKey(), Value: []byte("1")}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
			return set, s.wrap(err)
		}
		s.kidsReady.Store(true)
	}
	return set, nil
}

// indexChildJobs reads the job records at keys and sets the entries of
// those with a parent, remembering the others as roots (not read again).
// It returns how many entries it set.
func (s *Store) indexChildJobs(ctx context.Context, q *api.QueryOptions, keys []string) (int, error) {
	set := 0
	for len(keys) > 0 {
		n := min(len(keys), kvtxn.MaxOps)
		pairs, err := s.readMany(q, keys[:n])
		if err != nil {
			return set, err
		}
		keys = keys[n:]
		var ops api.KVTxnOps
		for _, p := range pairs {
			j, _, err := jobRecords.decode(p)
			if err != nil {
				return set, err
			}
			if k := childJobEntry(s, j); k != "" {
				ops = append(ops, &api.KVTxnOp{Verb: api.KVSet, Key: k})
				continue
			}
			s.kidsMu.Lock()
			s.roots[j.GetId()] = true
			s.kidsMu.Unlock()
		}
		if len(ops) == 0 {
			continue
		}
		ok, resp, _, err := s.kv.Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return set, s.wrap(err)
		}
		if !ok {
			return set, fmt.Errorf("consulstore: indexing child jobs: %v", txnErrors(resp))
		}
		set += len(ops)
	}
	return set, nil
}

// healChildEntry deletes entry, the index entry of job id, if id's record
// does not exist (best effort).
func (s *Store) healChildEntry(ctx context.Context, id, entry string) {
	_, _, _, _ = s.kv.Txn(api.KVTxnOps{
		{Verb: api.KVCheckNotExists, Key: jobRecords.key(s, id)},
		{Verb: api.KVDelete, Key: entry},
	}, (&api.QueryOptions{}).WithContext(ctx))
}
