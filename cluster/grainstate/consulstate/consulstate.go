// Package consulstate keeps grains' durable state and their reminder
// index in Consul KV (grainstate.ReminderStore), beside the claims of the
// grain directory (cluster/consuldir), so that a state write checks its
// claim in the same transaction.
//
// Layout (stored; it never changes, so members of the previous release
// read what this one writes and the other way round):
//
//	granary/<cluster>/grainstate/<kind>/<identity>                  the record (messages.GrainStateRecord)
//	granary/<cluster>/reminders/<shard>/<kind>/<identity>/<name>    due time, Unix nanoseconds in decimal
//	granary/<cluster>/reminders/<shard>/anchor                      keeps the shard's prefix from being empty
//
// with identity and name path-escaped and shard two decimal digits
// (grainstate.ReminderShard).
//
//	st := consulstate.New(consulClient, "prod", membership.Session)
//	defer st.Close()
//	v, err := st.SaveState(ctx, "counter", "alice", "node-1", record, version)
package consulstate

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/granary-rt/granary/cluster/consuldir"
	"github.com/granary-rt/granary/cluster/grainstate"
	"github.com/granary-rt/granary/cluster/internal/kvtxn"

	"github.com/hashicorp/consul/api"
)

// stateWriteWorkers is how many transactions of grain state writes are in
// flight at once. One: the writes waiting meanwhile all go in the next,
// so the transactions fill up; a grain write is a larger share of a
// call's cost than a task write is of a task's. Measured with 32 callers
// of the counter grain (GrainStateWrites): 8 workers (the task store's)
// cost Consul 180 µs of CPU per write and the member 167 µs, 2 workers
// 127 and 113, 1 worker 100 (as much as a raw put of the record's size)
// and 100, with the best rate and p50.
const stateWriteWorkers = 1

// Store implements grainstate.ReminderStore on Consul KV.
type Store struct {
	kv *api.KV
	// watchKV serves the reminder watches (WatchWith); kv by default.
	watchKV        *api.KV
	cluster        string
	statePrefix    string // granary/<cluster>/grainstate/
	reminderPrefix string // granary/<cluster>/reminders/ (reminders.go)
	session        func() string
	// batch shares transactions among concurrent state writes of many
	// grains, as task writes share them (kvtxn), with stateWriteWorkers.
	batch *kvtxn.Batcher
}

var _ grainstate.ReminderStore = (*Store)(nil)

// New returns the grain state store of cluster; session returns the
// member's current session id ("" when it has none), the one its grain
// directory (consuldir.New) claims with.
func New(c *api.Client, cluster string, session func() string) *Store {
	return &Store{kv: c.KV(), watchKV: c.KV(), cluster: cluster,
		statePrefix: "granary/" + cluster + "/grainstate/", reminderPrefix: "granary/" + cluster + "/reminders/",
		session: session, batch: kvtxn.New(c.KV(), kvtxn.Config{Workers: stateWriteWorkers})}
}

// Close stops the goroutines that share state writes among grains; the
// store writes no state afterwards. Safe to call twice.
func (s *Store) Close() { s.batch.Close() }

// WatchWith makes the reminder watches (a blocking query per shard, each
// holding a connection for up to 30s) use w instead of the client given
// to New, so they never take the connections state writes need. It
// returns s.
func (s *Store) WatchWith(w *api.Client) *Store {
	s.watchKV = w.KV()
	return s
}

// WriteWith sends the transactions of state writes to the Consul agent
// cfg names with kvtxn's own encoding (kvtxn.EndpointOf), which costs the
// member less CPU per write than consul/api's; when cfg needs what only
// consul/api implements, they keep going through the client given to New.
// Call it before the store writes state. It returns s.
func (s *Store) WriteWith(cfg *api.Config) *Store {
	if ep, ok := kvtxn.EndpointOf(cfg); ok {
		s.batch.Close()
		s.batch = kvtxn.New(s.kv, kvtxn.Config{Workers: stateWriteWorkers, Endpoint: ep})
	}
	return s
}

// stateKey is the KV key of a grain's durable state.
func (s *Store) stateKey(kind, identity string) string {
	return s.statePrefix + kind + "/" + url.PathEscape(identity)
}

// LoadState implements grainstate.Store. The read is consistent: an
// activation taking over after a failover must see the last state its
// predecessor stored, even from a Consul leader elected meanwhile.
func (s *Store) LoadState(ctx context.Context, kind, identity string) ([]byte, uint64, error) {
	if err := grainstate.CheckGrain(kind, identity); err != nil {
		return nil, 0, err
	}
	pair, _, err := s.kv.Get(s.stateKey(kind, identity), (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return nil, 0, fmt.Errorf("consulstate: reading the state of %s/%s: %w", kind, identity, err)
	}
	if pair == nil {
		return nil, 0, nil
	}
	return pair.Value, pair.ModifyIndex, nil
}

// SaveState implements grainstate.Store in one transaction that checks
// this member's session still holds the identity's claim and sets the
// state with check-and-set on its version: a member whose session Consul
// has invalidated (paused, partitioned, declared dead) writes nothing.
func (s *Store) SaveState(ctx context.Context, kind, identity, member string, data []byte, version uint64) (uint64, error) {
	return s.SaveStateIndexed(ctx, kind, identity, member, data, version, nil)
}

// saveState is SaveState's transaction, with more operations in it.
func (s *Store) saveState(ctx context.Context, kind, identity string, data []byte, version uint64, more api.KVTxnOps) (uint64, error) {
	sess := s.session()
	if sess == "" {
		return 0, fmt.Errorf("%w: %w", grainstate.ErrStateConflict, consuldir.ErrNoSession)
	}
	key := s.stateKey(kind, identity)
	ops := append(api.KVTxnOps{
		{Verb: api.KVCheckSession, Key: consuldir.ClaimKey(s.cluster, kind, identity), Session: sess},
		{Verb: api.KVCAS, Key: key, Value: data, Index: version},
	}, more...)
	// Concurrent writes of many grains share a transaction; each keeps
	// its own session check and check-and-set, and one refused write does
	// not fail the others (kvtxn).
	res := s.batch.Do(ctx, ops)
	if res.Err != nil {
		return 0, fmt.Errorf("consulstate: storing the state of %s/%s: %w", kind, identity, res.Err)
	}
	if !res.OK {
		return 0, errConflict(kind, identity, version, res.Errors)
	}
	for _, r := range res.Results {
		if r != nil && r.Key == key {
			return r.ModifyIndex, nil
		}
	}
	return 0, fmt.Errorf("consulstate: storing the state of %s/%s: no result for %s", kind, identity, key)
}

// DeleteState implements grainstate.Store: the grain's reminders go with
// its record, in one transaction.
func (s *Store) DeleteState(ctx context.Context, kind, identity string) error {
	if err := grainstate.CheckGrain(kind, identity); err != nil {
		return err
	}
	ok, _, _, err := s.kv.Txn(api.KVTxnOps{
		{Verb: api.KVDelete, Key: s.stateKey(kind, identity)},
		{Verb: api.KVDeleteTree, Key: s.grainRemindersPrefix(kind, identity)},
	}, (&api.QueryOptions{}).WithContext(ctx))
	if err == nil && !ok {
		err = errors.New("transaction refused")
	}
	if err != nil {
		return fmt.Errorf("consulstate: deleting the state of %s/%s: %w", kind, identity, err)
	}
	return nil
}

// errConflict is a refused transaction's error.
func errConflict(kind, identity string, version uint64, errs []*api.TxnError) error {
	var why []string
	for _, e := range errs {
		why = append(why, e.What)
	}
	return fmt.Errorf("%w: the claim on %s/%s is no longer this member's, or its state changed since version %d (%s)",
		grainstate.ErrStateConflict, kind, identity, version, strings.Join(why, "; "))
}
