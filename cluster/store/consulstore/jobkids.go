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
// Records stored by a version without the index have no entries. The
// index is filled once, by the first reconcile (reconcile.go) that finds
// no jobkids-ready: it reads every job record, sets the entry of each that
// has a parent, then writes jobkids-ready. Until a store has seen that
// marker, ListChildJobs reads every job record and picks the children, as
// before the index: correct during the upgrade, and only as slow as before
// it. Job records are few next to tasks, so one full read at the upgrade
// costs little; a later reconcile does not read them again. A child job
// whose record an older member creates during a rolling upgrade, after the
// marker, lacks its entry until a member of this version writes its record
// (which it does at each step of the job's supervision); an entry whose
// record an older member deleted is skipped by the listing (its record is
// missing).

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

// indexChildJobs fills the index once (see the top of this file): unless
// jobkids-ready exists, it sets the entry of every stored job that has a
// parent, then writes jobkids-ready. It returns how many entries it set.
// Several members may run it at once: they set the same entries.
func (s *Store) indexChildJobs(ctx context.Context) (int, error) {
	if ready, err := s.childJobsIndexed(ctx); err != nil || ready {
		return 0, err
	}
	var entries []string
	err := jobRecords.list(s, ctx, func(j *messages.Job, _ uint64) {
		if k := childJobEntry(s, j); k != "" {
			entries = append(entries, k)
		}
	})
	if err != nil {
		return 0, err
	}
	for done := 0; done < len(entries); {
		n := min(len(entries)-done, kvtxn.MaxOps)
		ops := make(api.KVTxnOps, n)
		for i, k := range entries[done : done+n] {
			ops[i] = &api.KVTxnOp{Verb: api.KVSet, Key: k}
		}
		ok, resp, _, err := s.kv.Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return done, s.wrap(err)
		}
		if !ok {
			return done, fmt.Errorf("consulstore: indexing child jobs: %v", txnErrors(resp))
		}
		done += n
	}
	if _, err := s.kv.Put(&api.KVPair{Key: s.childJobsReadyKey(), Value: []byte("1")}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return len(entries), s.wrap(err)
	}
	s.kidsReady.Store(true)
	return len(entries), nil
}
