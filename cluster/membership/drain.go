package membership

import (
	"context"
	"fmt"
	"time"

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
// Leave, or while the node holds no session, it returns ErrFenced wrapped
// (the mark is then written with the next claim). A node that holds a
// session but not yet its member key waits for the claim, within ctx.
func (m *Membership) Drain(ctx context.Context) error {
	m.mu.Lock()
	m.draining = true
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	session, err := m.awaitMemberKey(ctx)
	if err != nil {
		return err
	}
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

// awaitMemberKey returns the session that holds the member key. A node
// that holds a session but not the key (just after a claim, or while the
// lease loop claims it again) is given until ctx ends for the claim:
// Drain in that window is not a fenced node's. A node that left or holds
// no session is ErrFenced at once.
func (m *Membership) awaitMemberKey(ctx context.Context) (string, error) {
	poll := time.NewTicker(25 * time.Millisecond)
	defer poll.Stop()
	for {
		m.mu.Lock()
		left, session, key := m.left, m.session, m.keySession
		m.mu.Unlock()
		switch {
		case left || session == "":
			return "", fmt.Errorf("membership: drain without a member key: %w", ErrFenced)
		case key != "":
			return key, nil
		}
		kick(m.renewKick)
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("membership: drain without a member key (session %s holds none yet): %w", session, ErrFenced)
		case <-poll.C:
		}
	}
}

// isDraining reports whether Drain was called.
func (m *Membership) isDraining() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.draining
}
