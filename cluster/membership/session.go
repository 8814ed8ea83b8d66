package membership

import (
	"context"
	"errors"
	"math/rand/v2"

	"github.com/hashicorp/consul/api"
)

// needsSession reports whether the node has no session it believes valid.
func (m *Membership) needsSession() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.session == "" && !m.left
}

// acquireSession creates the node's session, after destroying any older
// one of ours that may still be alive in Consul.
//
// The session is tied to the agent's serfHealth check and to both service
// checks, so Consul invalidates it, and releases its locks, as soon as the
// machine, the lease or /healthz fails. Behaviour is "release", Consul's
// default and what api.Lock uses: a lock key outlives its holder and keeps
// the last holder's value, which is where callers keep fencing epochs that
// must only grow; "delete" would erase them with the key.
func (m *Membership) acquireSession() error {
	m.mu.Lock()
	purge := m.mustPurge
	m.mu.Unlock()
	if purge {
		if err := m.purgeSessions(m.ctx); err != nil {
			return err
		}
		m.mu.Lock()
		m.mustPurge = false
		m.mu.Unlock()
	}

	ctx, cancel := m.requestContext()
	defer cancel()
	entry := &api.SessionEntry{
		Name:          m.sessionName,
		LockDelay:     m.cfg.LockDelay,
		Behavior:      api.SessionBehaviorRelease,
		NodeChecks:    []string{serfHealthCheck},
		ServiceChecks: []api.ServiceCheck{{ID: m.ttlCheckID}, {ID: m.httpCheckID}},
	}
	id, _, err := m.consul.Session().Create(entry, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		if _, refused := asStatusError(err); !refused {
			// The request may have created a session whose id we never
			// saw; it holds nothing, but destroy it before the next one.
			m.mu.Lock()
			m.mustPurge = true
			m.mu.Unlock()
		}
		return err
	}

	m.mu.Lock()
	if m.left {
		m.mu.Unlock()
		return nil // Leave destroys every session of ours after we return
	}
	m.session = id
	m.publishLocked()
	watchCtx, stop := context.WithCancel(m.ctx)
	m.stopSession = stop
	m.mu.Unlock()

	m.log.Debug("session created", "session", id, "lock_delay", m.cfg.LockDelay)
	m.goFunc(func() { m.watchSession(watchCtx, id) })
	kick(m.fenceKick)
	return nil
}

// purgeSessions destroys every session in Consul that carries this node's
// session name: the current one, one lost to a fence, or one a previous run
// of the node left behind (a node restarted within its TTL would otherwise
// leave a session that stays valid, because the checks it is tied to pass
// again, holding its locks forever).
func (m *Membership) purgeSessions(ctx context.Context) error {
	listCtx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	sessions, _, err := m.consul.Session().List((&api.QueryOptions{}).WithContext(listCtx))
	if err != nil {
		return err
	}
	for _, s := range sessions {
		if s.Name != m.sessionName {
			continue
		}
		destroyCtx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
		_, err := m.consul.Session().Destroy(s.ID, (&api.WriteOptions{}).WithContext(destroyCtx))
		cancel()
		if err != nil {
			return err
		}
		m.log.Debug("session destroyed", "session", s.ID)
	}
	return nil
}

// dropSessionLocked forgets the current session and stops its watcher.
// The caller holds m.mu.
func (m *Membership) dropSessionLocked() {
	m.session = ""
	m.publishLocked()
	if m.stopSession != nil {
		m.stopSession()
		m.stopSession = nil
	}
}

// watchSession follows session id with blocking queries until Consul
// reports it gone or ctx ends (the node dropped it). Consul invalidates a
// session when a check it is tied to goes critical, for example when
// /healthz fails while the lease is renewed fine; this is how the node
// learns it and fences itself.
func (m *Membership) watchSession(ctx context.Context, id string) {
	var index uint64
	failures := 0
	for ctx.Err() == nil {
		back := m.consulBack()
		qctx, cancel := context.WithTimeout(ctx, m.cfg.blockingTimeout())
		q := (&api.QueryOptions{WaitIndex: index, WaitTime: m.cfg.WatchWait}).WithContext(qctx)
		entry, meta, err := m.consul.Session().Info(id, q)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			m.logFailure("watch session", failures, err)
			index = 0 // see runViewWatch
			if !sleep(ctx, m.cfg.Retry.Delay(failures, rand.Float64()), back) {
				return
			}
			continue
		}
		failures = 0
		if entry == nil {
			m.sessionInvalidated(id)
			return
		}
		index = nextWaitIndex(index, meta.LastIndex)
	}
}

// sessionInvalidated handles Consul's report that session id is gone.
func (m *Membership) sessionInvalidated(id string) {
	m.mu.Lock()
	current := m.session == id
	if current {
		m.dropSessionLocked()
	}
	m.mu.Unlock()
	if !current {
		return
	}
	m.log.Warn("session invalidated by consul", "session", id)
	kick(m.fenceKick)
	kick(m.renewKick)
}

// isNotFound reports a 404 from Consul: an unknown check or service.
func isNotFound(err error) bool {
	se, ok := asStatusError(err)
	return ok && se.Code == 404
}

// isCriticalCheck reports Consul refusing a session because a check it
// would be tied to is not passing.
func isCriticalCheck(err error) bool {
	se, ok := asStatusError(err)
	return ok && containsFold(se.Body, "critical state")
}

// asStatusError extracts the HTTP status Consul answered with, if the
// error is an answer rather than a transport failure.
func asStatusError(err error) (api.StatusError, bool) {
	var se api.StatusError
	if errors.As(err, &se) {
		return se, true
	}
	var sep *api.StatusError
	if errors.As(err, &sep) && sep != nil {
		return *sep, true
	}
	return api.StatusError{}, false
}
