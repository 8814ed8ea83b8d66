// Package consulstore is the task store of a Consul cluster: every task is
// one KV entry under granary/<cluster>/tasks/, written with check-and-set
// on its ModifyIndex, which is the record's revision. Unfinished tasks are
// also indexed by owner under granary/<cluster>/owners/<member>/<id>, so a
// dead member's tasks are found with one key listing, not a scan; and by
// job under granary/<cluster>/jobtasks/<job>/<id>, so are a job's. Every
// task is indexed by submission time under granary/<cluster>/bytime/, so a
// page of the newest tasks reads only its tasks (bytime.go). Job
// records (the job supervisor's restart history) live under
// granary/<cluster>/jobs/<job>, each child job also under its parent's
// granary/<cluster>/jobkids/<parent>/<job> (jobkids.go). Task counts by kind and state live in
// counter shards under granary/<cluster>/counts/, written in the same
// transactions as the tasks (counts.go).
//
// Each write is one Consul transaction that moves the record and its index
// entries together; a stale writer's transaction fails as a whole.
package consulstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/granary-rt/granary/cluster/internal/kvtxn"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/proto"
)

// Store is a store.Store on Consul KV.
type Store struct {
	kv     *api.KV
	cfg    Config
	prefix string
	closed atomic.Bool

	// last remembers, per task, the owner and state of the revision this
	// process wrote or read last, so an update at that revision needs no
	// extra read to maintain the owner index.
	mu   sync.Mutex
	last map[string]known
	// finished keeps the last finishedCap tasks this process saw finish, so
	// a waiter on the member that committed a task hears of it without a
	// read from Consul.
	finished     map[string]known
	finishedRing []string
	finishedNext int
	// expect holds tasks whose changes another member will tell this one
	// (Observe) until the time given: Watch waits for that before it asks
	// Consul.
	expect map[string]time.Time

	// consistentUntil (Unix ns): reads are consistent until then, after a
	// transient failure (fresh.go).
	consistentUntil atomic.Int64
	// unavailableAt (Unix ns): the last time a call found Consul
	// unavailable (bound).
	unavailableAt atomic.Int64

	batch *kvtxn.Batcher
	probe *prober
	// shards lends counter shards to writes; repairMu: one repair of the
	// counts at a time (counts.go).
	shards   *countShards
	repairMu sync.Mutex
	// local wakes Watch calls on tasks this process writes, so a waiter on
	// the owner sees a change without a round trip through Consul.
	local store.Notifier
	// watchSlots holds a token per blocking query in flight (MaxWatches);
	// watching (under mu) the tasks one is in flight for.
	watchSlots chan struct{}
	watching   map[string]bool

	// hourDirs (under mu): the hours whose timedir key this process wrote
	// (bytime.go). ready: bytime-ready exists, listings walk the index.
	// The reconcile loop runs on bgCtx (ended by Close, which waits for
	// bg).
	hourDirs map[string]bool
	ready    atomic.Bool
	// kidsReady: jobkids-ready exists, child jobs are listed from their
	// index; roots (under kidsMu): the jobs a reconcile read and found
	// without a parent, which it does not read again (jobkids.go).
	kidsReady atomic.Bool
	kidsMu    sync.Mutex
	roots     map[string]bool
	bgCtx     context.Context
	bgStop    context.CancelFunc
	bg        sync.WaitGroup
}

// finishedCap bounds the finished tasks a store remembers for waiters: a
// few seconds of tasks at full speed, a few hundred kilobytes.
const finishedCap = 4096

type known struct {
	rev   uint64
	owner string
	open  bool
	// body is the task as of rev, marshalled (as written or read, so
	// keeping it costs nothing): Watch answers from it without a read.
	body []byte
	// wrote: this process wrote rev, at this time (it owns the task), so
	// the next change will most likely be its own too.
	wrote time.Time
	// at is the task's submission time: its place in the time index.
	at time.Time
	// kind and state: where the task stands in the counts (counts.go).
	kind  string
	state messages.TaskState
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Prober   = (*Store)(nil)
	_ store.Observer = (*Store)(nil)
)

// New returns a store on Consul through c. Zero fields of cfg take
// DefaultConfig's values (Cluster has none: it is required); a Config
// Validate refuses is an error wrapping ErrInvalidConfig.
func New(c *api.Client, cfg Config) (*Store, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: the Consul client is nil", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ReconcileEvery > 0 && cfg.ReconcileSoon > cfg.ReconcileEvery {
		cfg.ReconcileSoon = cfg.ReconcileEvery
	}
	if cfg.OutageCallTimeout > cfg.CallTimeout {
		cfg.OutageCallTimeout = min(DefaultConfig(cfg.Cluster).OutageCallTimeout, cfg.CallTimeout)
	}
	bgCtx, bgStop := context.WithCancel(context.Background())
	s := &Store{kv: c.KV(), cfg: cfg, prefix: "granary/" + cfg.Cluster + "/", last: map[string]known{},
		finished: map[string]known{}, finishedRing: make([]string, finishedCap), probe: newProber(c.KV()),
		watchSlots: make(chan struct{}, cfg.MaxWatches), watching: map[string]bool{}, roots: map[string]bool{}, bgCtx: bgCtx, bgStop: bgStop}
	// A shard per transaction in flight (counts.go).
	workers := kvtxn.DefaultConfig().Workers
	s.shards = newCountShards(s.countsPrefix()+url.PathEscape(cfg.Writer)+"-", workers)
	s.batch = kvtxn.New(c.KV(), kvtxn.Config{Workers: workers, Timeout: cfg.CallTimeout, Amender: amender{s}})
	if cfg.ReconcileEvery > 0 {
		s.bg.Add(1)
		go s.reconcileLoop()
	}
	s.bg.Add(1)
	go s.makeCounts() // counts.go
	return s, nil
}

func (s *Store) taskKey(id string) string { return s.prefix + "tasks/" + url.PathEscape(id) }

func (s *Store) ownerKey(owner, id string) string {
	return s.prefix + "owners/" + url.PathEscape(owner) + "/" + url.PathEscape(id)
}

// jobTasksPrefix holds one empty key per task of a job, written with the
// task, so a job's tasks are found without a scan.
func (s *Store) jobTasksPrefix(job string) string {
	return s.prefix + "jobtasks/" + url.PathEscape(job) + "/"
}

func (s *Store) jobTaskKey(job, id string) string { return s.jobTasksPrefix(job) + url.PathEscape(id) }

// outageWindow is how long after a call found Consul unavailable the
// store's calls take OutageCallTimeout: during an outage some call of the
// member (a read, a watch, a write) fails at least this often, and once
// Consul is back its answers take milliseconds, well within either bound.
const outageWindow = 10 * time.Second

// bound is ctx limited to CallTimeout, or to OutageCallTimeout within
// outageWindow of a call that found Consul unavailable: every call of the
// store that is not a blocking query runs under it.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.cfg.CallTimeout
	if time.Since(time.Unix(0, s.unavailableAt.Load())) < outageWindow {
		d = s.cfg.OutageCallTimeout
	}
	return context.WithTimeout(ctx, d)
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

func open(t *messages.Task) bool {
	return !store.Terminal(t.GetStatus().GetState()) && t.GetStatus().GetOwner() != ""
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, t *messages.Task) (store.Record, bool, error) {
	if err := s.check(ctx); err != nil {
		return store.Record{}, false, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	id := t.GetSpec().GetId()
	body, err := proto.Marshal(t)
	if err != nil {
		return store.Record{}, false, err
	}
	ops := api.KVTxnOps{{Verb: api.KVCAS, Key: s.taskKey(id), Value: body, Index: 0}}
	if open(t) {
		ops = append(ops, &api.KVTxnOp{Verb: api.KVSet, Key: s.ownerKey(t.GetStatus().GetOwner(), id)})
	}
	if job := t.GetSpec().GetJobId(); job != "" {
		ops = append(ops, &api.KVTxnOp{Verb: api.KVSet, Key: s.jobTaskKey(job, id)})
	}
	timeOps, hour := s.indexOps(t)
	ops = append(ops, timeOps...)
	res := s.write(ctx, ops, store.CountDelta(nil, t))
	if res.Err != nil {
		if rec, ok := s.landed(ctx, id, t, body); ok { // ambiguous.go
			s.noteHourDir(hour)
			return rec, true, nil
		}
		return store.Record{}, false, s.wrap(res.Err)
	}
	if res.OK {
		s.noteHourDir(hour)
	}
	if !res.OK {
		rec, err := s.Get(ctx, id)
		if err != nil {
			return store.Record{}, false, err
		}
		return rec, false, nil
	}
	rev := committedIndex(res)
	s.remember(id, rev, t, body, true)
	s.local.Notify(id)
	return store.Record{Task: t, Revision: rev}, true, nil // the store keeps body, not t
}

// Exists implements store.Prober: a task this process knows of is answered
// at once; others share a read-only transaction with concurrent checks.
func (s *Store) Exists(ctx context.Context, id string) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, ok := s.lastKnown(id); ok {
		return true, nil
	}
	found, err := s.probe.exists(ctx, s.taskKey(id))
	if err != nil {
		return false, s.wrap(err)
	}
	return found, nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, id string) (store.Record, error) {
	if err := s.check(ctx); err != nil {
		return store.Record{}, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var rec store.Record
	err := s.fresh(ctx, func(q *api.QueryOptions) error {
		pair, _, err := s.kv.Get(s.taskKey(id), q)
		switch {
		case err != nil:
			return s.wrap(err)
		case pair == nil:
			if _, ok := s.lastKnown(id); ok && !q.RequireConsistent {
				return fmt.Errorf("%w: task %s missing", errStale, id)
			}
			s.forget(id) // deleted (by a retention sweep, say)
			return fmt.Errorf("%w: %s", store.ErrNotFound, id)
		}
		rec, err = s.decode(pair, q.RequireConsistent)
		return err
	})
	return rec, err
}

// decode reads a task as Consul answered it; errStale if this process
// knows a later revision of it, unless the answer was consistent (then it
// is Consul's truth, even if Consul itself lost data).
func (s *Store) decode(pair *api.KVPair, consistent bool) (store.Record, error) {
	if !consistent {
		if err := s.checkFresh(pair); err != nil {
			return store.Record{}, err
		}
	}
	t := &messages.Task{}
	if err := proto.Unmarshal(pair.Value, t); err != nil {
		return store.Record{}, fmt.Errorf("consulstore: corrupt record %s: %w", pair.Key, err)
	}
	s.remember(t.GetSpec().GetId(), pair.ModifyIndex, t, pair.Value, false)
	return store.Record{Task: t, Revision: pair.ModifyIndex}, nil
}

// remember records t, marshalled as body, at rev.
func (s *Store) remember(id string, rev uint64, t *messages.Task, body []byte, wrote bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.last[id]; ok && k.rev > rev {
		return // what this process knows is never replaced by an older revision
	}
	if k, ok := s.finished[id]; ok && k.rev > rev {
		return
	}
	if store.Terminal(t.GetStatus().GetState()) {
		delete(s.last, id) // no more updates expected: keep the map small
		if _, ok := s.finished[id]; !ok {
			if old := s.finishedRing[s.finishedNext]; old != "" {
				delete(s.finished, old)
			}
			s.finishedRing[s.finishedNext] = id
			s.finishedNext = (s.finishedNext + 1) % len(s.finishedRing)
		}
		s.finished[id] = known{rev: rev, body: body}
		return
	}
	k := known{rev: rev, owner: t.GetStatus().GetOwner(), open: open(t), body: body, at: t.GetStatus().GetSubmittedAt().AsTime(),
		kind: t.GetSpec().GetKind(), state: t.GetStatus().GetState()}
	if wrote {
		k.wrote = time.Now()
	}
	s.last[id] = k
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, t *messages.Task, rev uint64) (store.Record, error) {
	if err := s.check(ctx); err != nil {
		return store.Record{}, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	id := t.GetSpec().GetId()
	s.mu.Lock()
	old, ok := s.last[id]
	s.mu.Unlock()
	body, err := proto.Marshal(t)
	if err != nil {
		return store.Record{}, err
	}
	if !ok || old.rev != rev {
		cur, err := s.Get(ctx, id)
		if err != nil {
			return store.Record{}, err
		}
		if cur.Revision != rev {
			if rec, ok := s.landed(ctx, id, t, body); ok { // an earlier try landed unanswered
				return rec, nil
			}
			return store.Record{}, fmt.Errorf("%w: %s is at revision %d, not %d", store.ErrConflict, id, cur.Revision, rev)
		}
		old = known{rev: rev, owner: cur.Task.GetStatus().GetOwner(), open: open(cur.Task), at: cur.Task.GetStatus().GetSubmittedAt().AsTime(),
			kind: cur.Task.GetSpec().GetKind(), state: cur.Task.GetStatus().GetState()}
	}
	ops := api.KVTxnOps{{Verb: api.KVCAS, Key: s.taskKey(id), Value: body, Index: rev}}
	newOwnerKey := ""
	if open(t) {
		newOwnerKey = s.ownerKey(t.GetStatus().GetOwner(), id)
	}
	if old.open && s.ownerKey(old.owner, id) != newOwnerKey {
		ops = append(ops, &api.KVTxnOp{Verb: api.KVDelete, Key: s.ownerKey(old.owner, id)})
	}
	if newOwnerKey != "" && (!old.open || old.owner != t.GetStatus().GetOwner()) {
		ops = append(ops, &api.KVTxnOp{Verb: api.KVSet, Key: newOwnerKey})
	}
	hour := ""
	if at := t.GetStatus().GetSubmittedAt().AsTime(); !at.Equal(old.at) { // never, as granary writes tasks: move its entry
		ops = append(ops, &api.KVTxnOp{Verb: api.KVDelete, Key: s.timeKey(store.Position{SubmittedAt: old.at, ID: id})})
		var timeOps api.KVTxnOps
		timeOps, hour = s.indexOps(t)
		ops = append(ops, timeOps...)
	}
	delta := store.Counts{}
	delta.Add(old.kind, old.state, -1)
	delta.Add(t.GetSpec().GetKind(), t.GetStatus().GetState(), 1)
	res := s.write(ctx, ops, delta)
	if !res.OK {
		// Unanswered, or refused: either way the record may be this very
		// write, landed unanswered now or on an earlier try (ambiguous.go).
		s.forget(id)
		if rec, ok := s.landed(ctx, id, t, body); ok {
			s.noteHourDir(hour)
			return rec, nil
		}
	}
	if res.Err != nil {
		return store.Record{}, s.wrap(res.Err)
	}
	if !res.OK {
		if _, err := s.Get(ctx, id); errors.Is(err, store.ErrNotFound) {
			return store.Record{}, err
		}
		return store.Record{}, fmt.Errorf("%w: %s changed since revision %d", store.ErrConflict, id, rev)
	}
	s.noteHourDir(hour)
	newRev := committedIndex(res)
	s.remember(id, newRev, t, body, true)
	s.local.Notify(id)
	return store.Record{Task: t, Revision: newRev}, nil // the store keeps body, not t
}

// Observe records a task's state as another member committed it (its
// owner, telling the member that submitted it), and wakes its waiters. A
// record older than what this process knows is ignored: revisions order
// them.
func (s *Store) Observe(rec store.Record) {
	id := rec.Task.GetSpec().GetId()
	if k, ok := s.lastKnown(id); ok && k.rev >= rec.Revision {
		return
	}
	body, err := proto.Marshal(rec.Task)
	if err != nil {
		return // unmarshalled from a push, so it marshals; if not, waiters ask Consul
	}
	s.remember(id, rec.Revision, rec.Task, body, false)
	if store.Terminal(rec.Task.GetStatus().GetState()) {
		s.unexpect(id)
	}
	s.local.Notify(id)
}

// Expect says that another member will Observe the changes of task id
// until the given time: Watch waits for them instead of asking Consul.
func (s *Store) Expect(id string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expect == nil {
		s.expect = map[string]time.Time{}
	}
	now := time.Now()
	if len(s.expect) >= maxExpected {
		for k, t := range s.expect { // drop what has lapsed
			if now.After(t) {
				delete(s.expect, k)
			}
		}
		if len(s.expect) >= maxExpected {
			return // still full: those waiters ask Consul
		}
	}
	s.expect[id] = until
}

// maxExpected bounds the tasks a store expects news of.
const maxExpected = 1 << 16

func (s *Store) expected(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.expect[id]
	if ok && time.Now().After(t) {
		delete(s.expect, id)
		return time.Time{}, false
	}
	return t, ok
}

func (s *Store) unexpect(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.expect, id)
}

// lastKnown is what this process last wrote or read of a task: unfinished,
// or among the last finishedCap to finish.
func (s *Store) lastKnown(id string) (known, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.last[id]; ok {
		return k, ok
	}
	k, ok := s.finished[id]
	return k, ok
}

func (s *Store) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.last, id)
	delete(s.finished, id) // its ring slot is reused in turn
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, id string, rev uint64) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// The task as of rev names its index entries: known from the read
	// that found it (a retention sweep's listing), or read now. Deleting
	// at rev checks that it is still that task.
	cur, ok := s.knownAt(id, rev)
	if !ok {
		var err error
		if cur, err = s.Get(ctx, id); err != nil {
			return err
		}
	}
	if cur.Revision != rev {
		return fmt.Errorf("%w: %s is at revision %d, not %d", store.ErrConflict, id, cur.Revision, rev)
	}
	// Consul's delete-cas of a key already gone succeeds (doing nothing):
	// the check of its index fails instead, so a task deleted twice (two
	// sweeps racing) is counted out once.
	ops := api.KVTxnOps{{Verb: api.KVCheckIndex, Key: s.taskKey(id), Index: rev}, {Verb: api.KVDelete, Key: s.taskKey(id)}}
	if owner := cur.Task.GetStatus().GetOwner(); owner != "" {
		ops = append(ops, &api.KVTxnOp{Verb: api.KVDelete, Key: s.ownerKey(owner, id)})
	}
	if job := cur.Task.GetSpec().GetJobId(); job != "" {
		ops = append(ops, &api.KVTxnOp{Verb: api.KVDelete, Key: s.jobTaskKey(job, id)})
	}
	ops = append(ops, &api.KVTxnOp{Verb: api.KVDelete, Key: s.timeKey(store.PositionOf(cur.Task))})
	res := s.write(ctx, ops, store.CountDelta(cur.Task, nil))
	s.forget(id)
	switch {
	case res.Err != nil:
		return s.wrap(res.Err)
	case !res.OK:
		if _, err := s.Get(ctx, id); errors.Is(err, store.ErrNotFound) {
			return err
		}
		return fmt.Errorf("%w: %s changed since revision %d", store.ErrConflict, id, rev)
	}
	return nil
}

// knownAt is the task as this process last read or wrote it, if that was
// at revision rev.
func (s *Store) knownAt(id string, rev uint64) (store.Record, bool) {
	k, ok := s.lastKnown(id)
	if !ok || k.rev != rev || k.body == nil {
		return store.Record{}, false
	}
	t := &messages.Task{}
	if err := proto.Unmarshal(k.body, t); err != nil {
		return store.Record{}, false
	}
	return store.Record{Task: t, Revision: rev}, true
}

// List implements store.Store. An owner filter reads the owner index, a
// job filter the job index; a page of the newest tasks (NewestFirst with a
// Limit) walks the submission-time index (bytime.go), and so do the oldest
// tasks submitted before a time (OldestFirst with SubmittedBefore, the
// retention sweep's listing: oldest.go); other listings scan
// every task (one listing), keeping only the page asked for.
func (s *Store) List(ctx context.Context, f store.Filter) ([]store.Record, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if f.Order == store.NewestFirst && f.Limit > 0 && f.Owner == "" && f.JobID == "" && s.indexReady(ctx) {
		recs, ok, err := s.listNewest(ctx, f)
		if err != nil || ok {
			return recs, err
		}
		// The filter keeps too few of the tasks walked: read them all.
	}
	if f.Order == store.OldestFirst && !f.SubmittedBefore.IsZero() && f.Owner == "" && f.JobID == "" && s.indexReady(ctx) {
		return s.listOldest(ctx, f)
	}
	var want map[string]bool // ids from an index, nil: every task
	prefix := ""
	switch {
	case f.Owner != "":
		prefix = s.prefix + "owners/" + url.PathEscape(f.Owner) + "/"
	case f.JobID != "":
		prefix = s.jobTasksPrefix(f.JobID)
	}
	if prefix != "" {
		var err error
		if want, err = s.indexedIDs(ctx, prefix); err != nil || len(want) == 0 {
			return nil, err
		}
		if f.JobID != "" || len(want) <= smallOwnerList || s.storedMoreThan(ctx, ownerScanShare*int64(len(want))) {
			recs, err := s.getMany(ctx, sortedIDs(want))
			if err != nil {
				return nil, err
			}
			page := store.NewPage(f)
			for _, rec := range recs {
				if f.Match(rec.Task) {
					page.Offer(rec)
				}
			}
			return page.Records(), nil
		}
		// Many tasks of one member (a dead member's, at failover) that
		// are most of the tasks stored: one listing of every task beats
		// hundreds of read transactions.
	}
	return s.scanTasks(ctx, f, want)
}

// indexedIDs reads the task ids an index (owner or job) holds under
// prefix.
func (s *Store) indexedIDs(ctx context.Context, prefix string) (map[string]bool, error) {
	keys, _, err := s.kv.Keys(prefix, "", s.readOptions(ctx, false))
	if err != nil {
		return nil, s.wrap(err)
	}
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		if id, err := url.PathUnescape(strings.TrimPrefix(k, prefix)); err == nil {
			want[id] = true
		}
	}
	return want, nil
}

// scanTasks lists every task in one listing and keeps the page f asks
// for, of the tasks in want (nil: any task).
func (s *Store) scanTasks(ctx context.Context, f store.Filter, want map[string]bool) ([]store.Record, error) {
	var page *store.Page
	err := s.fresh(ctx, func(q *api.QueryOptions) error {
		page = store.NewPage(f)
		pairs, _, err := s.kv.List(s.prefix+"tasks/", q)
		if err != nil {
			return s.wrap(err)
		}
		for _, p := range pairs {
			if want != nil {
				id, err := url.PathUnescape(strings.TrimPrefix(p.Key, s.prefix+"tasks/"))
				if err != nil || !want[id] {
					continue
				}
			}
			rec, err := s.decode(p, q.RequireConsistent)
			if err != nil {
				return err
			}
			if f.Match(rec.Task) {
				page.Offer(rec)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page.Records(), nil
}

// smallOwnerList is the owner-index size up to which List reads a member's
// tasks by id (getMany) rather than listing every task. A job's tasks are
// always read by id: a job is a small part of all tasks.
const smallOwnerList = 64

// ownerScanShare: a member's tasks are read by id (getMany) also when the
// counts say the store holds more than this many times as many tasks: a
// listing of every task would then read mostly other tasks (finished
// ones, kept for the retention). At 1,000,000 stored, each member that
// recovered its third of 100,000 pending tasks after fencing itself
// listed every task (hundreds of MB of JSON from Consul each time), and
// Consul's memory went from 4.6 to 10 GB in four minutes (issue #23).
const ownerScanShare = 4

func sortedIDs(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// committedIndex is the task key's new ModifyIndex after a committed
// write whose first operation sets it.
func committedIndex(res kvtxn.Result) uint64 {
	if len(res.Results) == 0 {
		return 0
	}
	return res.Results[0].ModifyIndex
}

// Close implements store.Store: it stops the write batcher; the Consul
// client stays usable.
func (s *Store) Close() error {
	s.closed.Store(true)
	s.bgStop()
	s.bg.Wait()
	s.batch.Close()
	s.probe.close()
	return nil
}

// wrap marks Consul errors (unreachable, no leader) as transient.
// wrap marks an error of Consul's: store.ErrUnavailable when Consul could
// not be reached or refused the call for now, so that callers retry.
func wrap(err error) error {
	if transient(err) {
		return fmt.Errorf("consulstore: %w: %w", store.ErrUnavailable, err)
	}
	return fmt.Errorf("consulstore: %w", err)
}

// wrap is the package's wrap that also notes a transient failure: the
// reads that follow it are consistent for a while (see readOptions).
func (s *Store) wrap(err error) error {
	if transient(err) {
		s.suspect()
		s.unavailableAt.Store(time.Now().UnixNano())
	}
	return wrap(err)
}

// transient reports whether err is Consul unreachable (a transport error),
// answering 429 (too many requests or connections from this client) or
// 5xx (no leader, leadership lost, restarting), not answering before the
// deadline, or a transaction failing for one of those reasons: worth
// retrying, unlike a 4xx answer or the caller giving up (cancel).
func transient(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true // Consul did not answer in time: it may later
	}
	if txnTransient(err) {
		return true
	}
	var se api.StatusError
	if errors.As(err, &se) {
		return se.Code == http.StatusTooManyRequests || se.Code >= 500
	}
	var sep *api.StatusError
	if errors.As(err, &sep) && sep != nil {
		return sep.Code == http.StatusTooManyRequests || sep.Code >= 500
	}
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
