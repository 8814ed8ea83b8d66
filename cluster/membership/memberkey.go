package membership

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/consul/api"
)

// errKeyBusy: Consul refused the member key to this node's session, because
// the key is in its lock-delay (this node's previous session just died) or
// another session holds it.
var errKeyBusy = errors.New("member key busy: in its lock-delay or held by another session")

// memberKey is this node's member key.
func (m *Membership) memberKey() string { return memberKeyPrefix(m.cfg.Cluster) + m.cfg.NodeID }

// needsMemberKey reports whether the node holds a session but not its
// member key under it.
func (m *Membership) needsMemberKey() (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.session, m.session != "" && m.keySession != m.session && !m.left
}

// claimMemberKey acquires the member key under session, writing this
// node's record: from then on the others count it as a member.
func (m *Membership) claimMemberKey(session string) error {
	ctx, cancel := m.requestContext()
	defer cancel()
	ok, _, err := m.consul.KV().Acquire(&api.KVPair{Key: m.memberKey(), Value: m.record(), Session: session}, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	if !ok {
		return errKeyBusy
	}
	m.mu.Lock()
	if m.session == session {
		m.keySession = session
	}
	m.keyClaimCount++
	m.mu.Unlock()
	m.log.Debug("member key held", "key", m.memberKey(), "session", session)
	return nil
}

// keyClaims is how many member-key claims this node has made so far; the
// key watcher reads it before each query, so that noteOwnKey can tell a
// listing that may predate the latest claim.
func (m *Membership) keyClaims() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keyClaimCount
}

// noteOwnKey forgets the member key when the keys Consul lists show that
// this node's session no longer holds it (an operator deleted it, Consul
// released it with a session this node has not yet seen die), so the
// lease loop claims it again. claims is keyClaims as read before the
// listing's query was sent: a listing whose query started before the
// latest claim may not show it, and says nothing about it (believing it
// cleared the key right after a claim, and a Drain in that window found
// no member key and answered fenced).
func (m *Membership) noteOwnKey(pairs api.KVPairs, claims uint64) {
	key := m.memberKey()
	holder := ""
	for _, p := range pairs {
		if p != nil && p.Key == key {
			holder = p.Session
		}
	}
	m.mu.Lock()
	lost := m.keySession != "" && holder != m.keySession && claims == m.keyClaimCount
	if lost {
		m.keySession = ""
	}
	m.mu.Unlock()
	if lost {
		m.log.Info("member key not held by this node's session; claiming it again", "key", key, "holder", holder)
		kick(m.renewKick)
	}
}

// releaseMemberKey releases the member key, best effort, on Leave: an
// explicit release has no lock-delay, so a restart can claim it at once.
// Destroying the session releases it anyway.
func (m *Membership) releaseMemberKey(ctx context.Context) {
	m.mu.Lock()
	session := m.keySession
	m.keySession = ""
	m.mu.Unlock()
	if session == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	if _, _, err := m.consul.KV().Release(&api.KVPair{Key: m.memberKey(), Session: session}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		m.log.Debug("releasing the member key", "err", err)
	}
}

// remotingConflict checks the live members' records (pairs, the keys
// under memberKeyPrefix) against this node's remoting: a node that could
// not talk to them must not join.
func (m *Membership) remotingConflict(pairs api.KVPairs) error {
	for id, r := range heldRecords(memberKeyPrefix(m.cfg.Cluster), pairs) {
		if id == m.cfg.NodeID || r.Remoting == m.cfg.Remoting {
			continue
		}
		return fmt.Errorf("%w: member %s (%s) uses %s, this node %s: its remoting could not talk to the members; "+
			"start it with the cluster's --cluster-ca, --cluster-cert and --cluster-key (ClusterCA, ClusterCert, ClusterKey), or without them if the cluster has none",
			ErrRemotingMismatch, id, r.Addr, describeRemoting(r.Remoting), describeRemoting(m.cfg.Remoting))
	}
	return nil
}
