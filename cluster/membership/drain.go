package membership

import (
	"context"
	"fmt"

	"github.com/hashicorp/consul/api"
)

// Drain tells the cluster that this node is leaving gracefully: its
// member record (the value of its member key) gains "draining": true, and
// every view shows it with Member.Draining set. It stays a member: its
// checks, lease, session and member key are untouched (the key is written
// again under the session that holds it), so its locks and the work it
// owns stay its own while it finishes. Other members place no new work on
// a draining member and do not adopt its work until it leaves (Leave) or
// its lease lapses.
//
// Drain returns once Consul has the new record, or ctx ends. A later claim
// of the key (after a new session) keeps the mark. It is idempotent; after
// Leave, or while the node holds no member key, it returns ErrFenced
// wrapped (the mark is then written with the next claim).
func (m *Membership) Drain(ctx context.Context) error {
	m.mu.Lock()
	m.draining = true
	left, session := m.left, m.keySession
	m.mu.Unlock()
	if left || session == "" {
		return fmt.Errorf("membership: drain without a member key: %w", ErrFenced)
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	ok, _, err := m.consul.KV().Acquire(&api.KVPair{Key: m.memberKey(), Value: m.record(), Session: session}, (&api.WriteOptions{}).WithContext(ctx))
	if err == nil && !ok {
		err = errKeyBusy
	}
	if err != nil {
		return fmt.Errorf("membership: marking the node draining: %w", err)
	}
	m.log.Info("marked draining: no new work is placed here")
	return nil
}

// isDraining reports whether Drain was called.
func (m *Membership) isDraining() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.draining
}
