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
// The package holds claims only. Grains' durable state and reminder index
// live beside them in cluster/grainstate/consulstate, whose writes check
// the claim key (ClaimKey) in the same transaction.
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

// Directory implements grains.Directory (and grains.Watcher) on Consul KV;
// the package does not import the grain host that uses it (its tests
// check that it fits).
type Directory struct {
	kv *api.KV
	// watchKV serves the blocking queries (WatchWith); kv by default.
	watchKV *api.KV
	cluster string
	session func() string
}

// New returns the directory of cluster; session returns the member's
// current session id ("" when it has none).
func New(c *api.Client, cluster string, session func() string) *Directory {
	return &Directory{kv: c.KV(), watchKV: c.KV(), cluster: cluster, session: session}
}

// WatchWith makes the directory's blocking queries (Wait, which holds a
// connection for up to 30s) use w instead of the client given to New, so
// they never take the connections its claims need. It returns d.
func (d *Directory) WatchWith(w *api.Client) *Directory {
	d.watchKV = w.KV()
	return d
}

// ClaimKey is the KV key of the claim on an activation in cluster:
// granary/<cluster>/grains/<kind>/<identity>, identity path-escaped. It is
// stored layout (members of the previous release claim the same keys),
// and the grain state store (cluster/grainstate/consulstate) checks it in
// each state write.
func ClaimKey(cluster, kind, identity string) string {
	return "granary/" + cluster + "/grains/" + kind + "/" + url.PathEscape(identity)
}

// Key is the KV key of an activation.
func (d *Directory) Key(kind, identity string) string {
	return ClaimKey(d.cluster, kind, identity)
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
