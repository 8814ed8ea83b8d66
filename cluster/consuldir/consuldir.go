// Package consuldir is the grain directory of a Consul cluster: the holder
// of each activation is a Consul KV lock held by the member's session.
//
// A claim is an acquire of granary/<cluster>/grains/<kind>/<identity> with
// the member's session; of several members claiming one identity, Consul
// lets exactly one acquire it, and the others read the holder from the key.
// The member's session is tied to its health checks with behaviour
// "delete": when the member dies or is cut off, Consul invalidates the
// session and deletes every key it held, so its identities can be claimed
// by survivors without anyone cleaning up.
//
//	dir := consuldir.New(consulClient, "prod", membership.Session)
//	holder, err := dir.Claim(ctx, "counter", "alice", "node-1")
package consuldir

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/internal/kvtxn"

	"github.com/hashicorp/consul/api"
)

var (
	// ErrNoSession: the member has no valid session (it is fenced or just
	// starting); it may not claim anything.
	ErrNoSession = errors.New("member has no Consul session")
	// ErrContended: the key is free but could not be acquired (Consul's
	// lock-delay after the previous holder's session ended, or a race);
	// claim again after a short backoff.
	ErrContended = errors.New("activation claim contended; retry")
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

// Directory implements grains.Directory on Consul KV.
type Directory struct {
	kv *api.KV
	// watchKV serves the blocking queries (WatchWith); kv by default.
	watchKV     *api.KV
	prefix      string
	statePrefix string // granary/<cluster>/grainstate/: durable grain state
	// reminderPrefix is granary/<cluster>/reminders/: the grains'
	// reminders by shard (reminders.go).
	reminderPrefix string
	session        func() string
	// batch shares transactions among concurrent state writes of many
	// grains, as task writes share them (kvtxn), with stateWriteWorkers.
	batch *kvtxn.Batcher
}

// New returns the directory of cluster; session returns the member's
// current session id ("" when it has none).
func New(c *api.Client, cluster string, session func() string) *Directory {
	return &Directory{kv: c.KV(), watchKV: c.KV(), prefix: "granary/" + cluster + "/grains/", statePrefix: "granary/" + cluster + "/grainstate/",
		reminderPrefix: "granary/" + cluster + "/reminders/", session: session, batch: kvtxn.New(c.KV(), kvtxn.Config{Workers: stateWriteWorkers})}
}

// Close stops the goroutines that share state writes among grains; the
// directory writes no state afterwards. Safe to call twice.
func (d *Directory) Close() { d.batch.Close() }

// WatchWith makes the directory's blocking queries (holder and reminder
// watches, which each hold a connection for up to 30s) use w instead of
// the client given to New, so they never take the connections its claims
// and state writes need. It returns d.
func (d *Directory) WatchWith(w *api.Client) *Directory {
	d.watchKV = w.KV()
	return d
}

// WriteWith sends the transactions of state writes to the Consul agent
// cfg names with kvtxn's own encoding (kvtxn.EndpointOf), which costs the
// member less CPU per write than consul/api's; when cfg needs what only
// consul/api implements, they keep going through the client given to New.
// Call it before the directory writes state. It returns d.
func (d *Directory) WriteWith(cfg *api.Config) *Directory {
	if ep, ok := kvtxn.EndpointOf(cfg); ok {
		d.batch.Close()
		d.batch = kvtxn.New(d.kv, kvtxn.Config{Workers: stateWriteWorkers, Endpoint: ep})
	}
	return d
}

// Key is the KV key of an activation.
func (d *Directory) Key(kind, identity string) string {
	return d.prefix + kind + "/" + url.PathEscape(identity)
}

// Claim implements grains.Directory.
func (d *Directory) Claim(ctx context.Context, kind, identity, member string) (string, error) {
	sess := d.session()
	if sess == "" {
		return "", ErrNoSession
	}
	key := d.Key(kind, identity)
	ok, _, err := d.kv.Acquire(&api.KVPair{Key: key, Value: []byte(member), Session: sess}, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("consuldir: acquiring %s: %w", key, err)
	}
	if ok {
		return member, nil
	}
	pair, _, err := d.kv.Get(key, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("consuldir: reading %s: %w", key, err)
	}
	if pair == nil || pair.Session == "" {
		return "", fmt.Errorf("%w: %s", ErrContended, key)
	}
	return string(pair.Value), nil
}

// Release implements grains.Directory: it deletes the key only while this
// member's session still holds it, in one transaction.
func (d *Directory) Release(ctx context.Context, kind, identity, member string) error {
	sess := d.session()
	if sess == "" {
		return nil // the session is gone, and with it (behaviour delete) the key
	}
	key := d.Key(kind, identity)
	// When the check fails (another session holds the key now, or it is
	// gone) the transaction does nothing, which is what a release should do.
	_, _, _, err := d.kv.Txn(api.KVTxnOps{
		{Verb: api.KVCheckSession, Key: key, Session: sess},
		{Verb: api.KVDelete, Key: key},
	}, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("consuldir: releasing %s: %w", key, err)
	}
	return nil
}

// Wait implements grains.Watcher with a blocking query on the key.
func (d *Directory) Wait(ctx context.Context, kind, identity string, index uint64) (string, uint64, error) {
	key := d.Key(kind, identity)
	pair, meta, err := d.watchKV.Get(key, (&api.QueryOptions{WaitIndex: index, WaitTime: 30 * time.Second}).WithContext(ctx))
	if err != nil {
		return "", 0, fmt.Errorf("consuldir: watching %s: %w", key, err)
	}
	next := meta.LastIndex
	if next < index || next == 0 {
		next = 1 // Consul's index went back (restart): start over, per its docs
	}
	if pair == nil || pair.Session == "" {
		return "", next, nil
	}
	return string(pair.Value), next, nil
}

// stateKey is the KV key of a grain's durable state.
func (d *Directory) stateKey(kind, identity string) string {
	return d.statePrefix + kind + "/" + url.PathEscape(identity)
}

// LoadState implements grains.StateStore. The read is consistent: an
// activation taking over after a failover must see the last state its
// predecessor stored, even from a Consul leader elected meanwhile.
func (d *Directory) LoadState(ctx context.Context, kind, identity string) ([]byte, uint64, error) {
	pair, _, err := d.kv.Get(d.stateKey(kind, identity), (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return nil, 0, fmt.Errorf("consuldir: reading the state of %s/%s: %w", kind, identity, err)
	}
	if pair == nil {
		return nil, 0, nil
	}
	return pair.Value, pair.ModifyIndex, nil
}

// SaveState implements grains.StateStore in one transaction that checks
// this member's session still holds the identity's claim and sets the
// state with check-and-set on its version: a member whose session Consul
// has invalidated (paused, partitioned, declared dead) writes nothing.
func (d *Directory) SaveState(ctx context.Context, kind, identity, _ string, data []byte, version uint64) (uint64, error) {
	return d.saveState(ctx, kind, identity, data, version, nil)
}

// saveState is SaveState's transaction, with more operations in it.
func (d *Directory) saveState(ctx context.Context, kind, identity string, data []byte, version uint64, more api.KVTxnOps) (uint64, error) {
	sess := d.session()
	if sess == "" {
		return 0, fmt.Errorf("%w: %w", grains.ErrStateConflict, ErrNoSession)
	}
	key := d.stateKey(kind, identity)
	ops := append(api.KVTxnOps{
		{Verb: api.KVCheckSession, Key: d.Key(kind, identity), Session: sess},
		{Verb: api.KVCAS, Key: key, Value: data, Index: version},
	}, more...)
	// Concurrent writes of many grains share a transaction; each keeps
	// its own session check and check-and-set, and one refused write does
	// not fail the others (kvtxn).
	res := d.batch.Do(ctx, ops)
	if res.Err != nil {
		return 0, fmt.Errorf("consuldir: storing the state of %s/%s: %w", kind, identity, res.Err)
	}
	if !res.OK {
		return 0, errConflict(kind, identity, version, res.Errors)
	}
	for _, r := range res.Results {
		if r != nil && r.Key == key {
			return r.ModifyIndex, nil
		}
	}
	return 0, fmt.Errorf("consuldir: storing the state of %s/%s: no result for %s", kind, identity, key)
}

// DeleteState implements grains.StateStore.
func (d *Directory) DeleteState(ctx context.Context, kind, identity string) error {
	// The grain's reminders go with its record.
	ok, _, _, err := d.kv.Txn(api.KVTxnOps{
		{Verb: api.KVDelete, Key: d.stateKey(kind, identity)},
		{Verb: api.KVDeleteTree, Key: d.grainRemindersPrefix(kind, identity)},
	}, (&api.QueryOptions{}).WithContext(ctx))
	if err == nil && !ok {
		err = errors.New("transaction refused")
	}
	if err != nil {
		return fmt.Errorf("consuldir: deleting the state of %s/%s: %w", kind, identity, err)
	}
	return nil
}
