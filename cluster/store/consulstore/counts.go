package consulstore

// Counts of tasks by kind and state, kept with the writes (store.Counter).
//
// Consul KV has no increment, and a single counter key written by every
// task write would make all writers check-and-set the same key: each
// commit would refuse the others. So the counts are sharded. A shard is a
// key granary/<cluster>/counts/<writer>-<n> holding the changes that the
// writes through it made (JSON: kind -> state -> count, negative where
// tasks left a state); the counts are the sum of every shard, read in one
// listing of a few hundred bytes per shard, whatever the number of tasks.
//
// The write batcher (internal/kvtxn) adds to each transaction of task
// writes one check-and-set of a shard of this store's own, at the index
// this process last wrote or read, holding the sum of the count changes of
// all the writes in the transaction: the tasks and their counts commit
// together or not at all, and forty task writes in one transaction write
// one counter. Each transaction in flight holds its own shard (as many
// shards as the batcher has workers), so this store's transactions never
// refuse each other. A shard that changed behind this process's back (a
// repair, another process of the same writer name, a transaction whose
// answer was lost) makes the transaction fail on the shard alone; the
// shard moves on to a new key of its own (what the old key holds stays
// counted) and the transaction goes again. Lost answers make the shard be
// read again before its next use.
//
// The repair (RebuildCounts, and Counts when the counts were never made)
// reads every task and every shard in one read-only transaction, so both
// are of the same moment, and writes the difference into the shard
// counts/_repair with check-and-set: writes that land meanwhile change
// their own shards and the tasks alike, so the difference stays right.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/internal/kvtxn"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/proto"
)

var _ store.Counter = (*Store)(nil)

// repairShard names the shard the repair writes; its existence says the
// counts were made (from a scan, or from nothing in a new cluster).
const repairShard = "_repair"

// repairRetries bounds how often a repair reads again after another
// repair came first.
const repairRetries = 4

func (s *Store) countsPrefix() string { return s.prefix + "counts/" }

// countShard is one shard as this process last wrote or read it.
type countShard struct {
	base  string // counts/<writer>-<n>
	key   string // base, or base-<random> once moved on
	n     store.Counts
	index uint64 // its ModifyIndex; 0: it does not exist
	stale bool   // read it again before writing it
}

// moveOn makes sh a new shard under a key of its own: its key changed
// behind this store's back (deleted by hand, or written by another process
// of the same writer name, which would keep refusing this one's writes);
// what the old key holds stays counted there.
func (sh *countShard) moveOn() {
	sh.key = sh.base + "-" + strings.ToLower(rand.Text()[:8])
	sh.n, sh.index, sh.stale = store.Counts{}, 0, false
}

// countShards lends this store's shards to its writes, one write each.
type countShards struct {
	prefix string // counts/<writer>-
	free   chan *countShard
	mu     sync.Mutex
	made   int
}

func newCountShards(prefix string, max int) *countShards {
	return &countShards{prefix: prefix, free: make(chan *countShard, max)}
}

// take lends a free shard, making one while fewer than the most exist.
func (p *countShards) take(ctx context.Context) (*countShard, error) {
	select {
	case sh := <-p.free:
		return sh, nil
	default:
	}
	p.mu.Lock()
	if p.made < cap(p.free) {
		p.made++
		base := fmt.Sprintf("%s%d", p.prefix, p.made)
		sh := &countShard{base: base, key: base, n: store.Counts{}, stale: true}
		p.mu.Unlock()
		return sh, nil
	}
	p.mu.Unlock()
	select {
	case sh := <-p.free:
		return sh, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *countShards) give(sh *countShard) { p.free <- sh }

// encodeCounts and decodeCounts are a shard's value.
func encodeCounts(c store.Counts) []byte {
	m := make(map[string]map[int32]int64, len(c))
	for kind, st := range c {
		m[kind] = make(map[int32]int64, len(st))
		for k, n := range st {
			m[kind][int32(k)] = n
		}
	}
	b, _ := json.Marshal(m) // maps of strings and numbers always marshal
	return b
}

func decodeCounts(key string, b []byte) (store.Counts, error) {
	out := store.Counts{}
	if len(b) == 0 {
		return out, nil
	}
	var m map[string]map[int32]int64
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("consulstore: corrupt counter shard %s: %w", key, err)
	}
	for kind, st := range m {
		for k, n := range st {
			out.Add(kind, messages.TaskState(k), n)
		}
	}
	return out, nil
}

// write commits ops with the change delta of the counts, as one unit of
// the write batcher, which adds the check-and-set of one shard holding the
// sum of the changes of all the units in a transaction (amender).
func (s *Store) write(ctx context.Context, ops api.KVTxnOps, delta store.Counts) kvtxn.Result {
	if len(delta) == 0 {
		return s.batch.Do(ctx, ops)
	}
	return s.batch.DoTagged(ctx, ops, delta)
}

// amender adds a shard's check-and-set to each transaction of task writes
// that changes the counts (kvtxn.Amender).
type amender struct{ s *Store }

// Amend implements kvtxn.Amender: tags are the units' count changes.
func (a amender) Amend(ctx context.Context, tags []any) (*api.KVTxnOp, func(kvtxn.AmendOutcome), error) {
	delta := store.Counts{}
	for _, t := range tags {
		if d, ok := t.(store.Counts); ok {
			delta.Merge(d)
		}
	}
	if len(delta) == 0 {
		return nil, nil, nil
	}
	sh, err := a.s.shards.take(ctx)
	if err != nil {
		return nil, nil, err
	}
	if sh.stale {
		if err := a.s.loadShard(ctx, sh); err != nil {
			a.s.shards.give(sh)
			return nil, nil, err
		}
	}
	next := sh.n.Clone()
	next.Merge(delta)
	op := &api.KVTxnOp{Verb: api.KVCAS, Key: sh.key, Value: encodeCounts(next), Index: sh.index}
	return op, func(o kvtxn.AmendOutcome) {
		switch {
		case o.Committed && o.Entry != nil:
			sh.n, sh.index = next, o.Entry.ModifyIndex
		case o.Refused:
			sh.moveOn()
		case o.Committed, o.Err != nil:
			sh.stale = true // unknown
		}
		a.s.shards.give(sh)
	}, nil
}

// loadShard reads sh as Consul has it now.
func (s *Store) loadShard(ctx context.Context, sh *countShard) error {
	// A default read (the leader's answer); were it behind, the shard's
	// check-and-set would be refused and the shard move on (moveOn).
	pair, _, err := s.kv.Get(sh.key, s.readOptions(ctx, false))
	if err != nil {
		return s.wrap(err)
	}
	sh.n, sh.index = store.Counts{}, 0
	if pair != nil {
		n, err := decodeCounts(pair.Key, pair.Value)
		if err != nil {
			return err
		}
		sh.n, sh.index = n, pair.ModifyIndex
	}
	sh.stale = false
	return nil
}

// Counts implements store.Counter: one listing of the shards, summed. If
// the counts were never made (no repair shard: the cluster's tasks were
// written before counts were kept), they are made first (RebuildCounts).
func (s *Store) Counts(ctx context.Context) (store.Counts, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	bctx, cancel := s.bound(ctx)
	pairs, _, err := s.kv.List(s.countsPrefix(), s.readOptions(bctx, false))
	cancel()
	if err != nil {
		return nil, s.wrap(err)
	}
	sum, made, err := s.sumShards(pairs)
	if err != nil {
		return nil, err
	}
	if !made {
		return s.RebuildCounts(ctx)
	}
	return sum, nil
}

// makeCounts makes the counts when a store opens on a cluster that has
// none (new: nothing to scan; or upgraded from a version without them:
// one scan, in the background), so that no GET /v1/tasks:stats waits for
// the scan.
func (s *Store) makeCounts() {
	defer s.bg.Done()
	ctx := s.bgCtx
	pair, _, err := s.kv.Get(s.countsPrefix()+repairShard, s.readOptions(ctx, false))
	if err != nil || pair != nil {
		return // made, or Consul away: the first Counts makes them then
	}
	start := time.Now()
	n, err := s.RebuildCounts(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Logger.Warn("consulstore: making the task counts failed; the first count makes them", "err", err)
		}
		return
	}
	s.cfg.Logger.Info("consulstore: task counts made from a scan", "tasks", n.Total(), "took", time.Since(start))
}

// sumShards adds up the shards' counts; made: the repair shard is among
// them.
func (s *Store) sumShards(pairs api.KVPairs) (sum store.Counts, made bool, err error) {
	sum = store.Counts{}
	for _, p := range pairs {
		n, err := decodeCounts(p.Key, p.Value)
		if err != nil {
			return nil, false, err
		}
		sum.Merge(n)
		made = made || p.Key == s.countsPrefix()+repairShard
	}
	return sum, made, nil
}

// RebuildCounts implements store.Counter: every task and every shard read
// in one read-only transaction (one moment), and the difference between
// the tasks' counts and the shards' written into the repair shard with
// check-and-set; a repair by another member in between makes it read
// again. It reads every task, so it is bounded by ctx only, not by
// Config.CallTimeout. One repair runs at a time in a store.
func (s *Store) RebuildCounts(ctx context.Context) (store.Counts, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	s.repairMu.Lock()
	defer s.repairMu.Unlock()
	for try := 0; ; try++ {
		truth, ok, err := s.repairOnce(ctx)
		if err != nil || ok {
			return truth, err
		}
		if try == repairRetries {
			return nil, fmt.Errorf("%w: counts repaired by others meanwhile, %d times", store.ErrUnavailable, try+1)
		}
	}
}

// repairOnce is one try of RebuildCounts; ok false: another repair came
// first.
func (s *Store) repairOnce(ctx context.Context) (store.Counts, bool, error) {
	tasksPrefix := s.prefix + "tasks/"
	ok, resp, _, err := s.kv.Txn(api.KVTxnOps{
		{Verb: api.KVGetTree, Key: tasksPrefix},
		{Verb: api.KVGetTree, Key: s.countsPrefix()},
	}, s.readOptions(ctx, false)) // one transaction: one moment, whatever its consistency mode
	if err != nil {
		return nil, false, s.wrap(err)
	}
	if !ok {
		return nil, false, fmt.Errorf("consulstore: reading the tasks and counts refused: %v", resp.Errors)
	}
	truth, kept, repair := store.Counts{}, api.KVPairs{}, &api.KVPair{Key: s.countsPrefix() + repairShard}
	for _, r := range resp.Results {
		p := r
		switch {
		case p == nil:
		case strings.HasPrefix(p.Key, tasksPrefix):
			t := &messages.Task{}
			if err := proto.Unmarshal(p.Value, t); err != nil {
				return nil, false, fmt.Errorf("consulstore: corrupt record %s: %w", p.Key, err)
			}
			truth.Add(t.GetSpec().GetKind(), t.GetStatus().GetState(), 1)
		default:
			kept = append(kept, p)
			if p.Key == repair.Key {
				repair = p
			}
		}
	}
	sum, _, err := s.sumShards(kept)
	if err != nil {
		return nil, false, err
	}
	fix, err := decodeCounts(repair.Key, repair.Value)
	if err != nil {
		return nil, false, err
	}
	fix.Merge(truth)
	for kind, m := range sum {
		for st, n := range m {
			fix.Add(kind, st, -n)
		}
	}
	done, _, err := s.kv.CAS(&api.KVPair{Key: repair.Key, Value: encodeCounts(fix), ModifyIndex: repair.ModifyIndex}, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return nil, false, s.wrap(err)
	}
	return truth, done, nil
}
