package membership

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// renewOutput is the TTL check's output, shown in Consul's UI. It never
// changes, so renewals cause no catalog writes.
const renewOutput = "lease renewed by granary"

// leaseLoop counts consecutive failures of the lease loop.
type leaseLoop struct {
	consulFailures  int // registration or renewal errors in a row
	sessionFailures int // session creation errors in a row
	keyFailures     int // member key acquisitions failed in a row
	// late is how long after its due time the last wait ended: the time
	// the loop's goroutine waited for a CPU (or the wake came early: < 0).
	late time.Duration
}

// runLease keeps the node registered and its lease renewed, and gets it a
// session whenever it has none. It never gives up: Consul being
// unreachable or restarted only makes it retry.
func (m *Membership) runLease() {
	var l leaseLoop
	for {
		wait := m.leaseStep(&l)
		due := time.Now().Add(max(wait, 0))
		if !sleep(m.ctx, wait, m.renewKick) {
			return
		}
		l.late = time.Since(due)
	}
}

// leaseStep does one round of the lease loop and returns how long to wait
// before the next.
func (m *Membership) leaseStep(l *leaseLoop) time.Duration {
	began := time.Now()
	justRegistered := false
	if !m.isRegistered() {
		if err := m.register(); err != nil {
			return m.consulFailed(l, "register", err)
		}
		justRegistered = true
	}
	err := m.renewHedged()
	m.noteSlowRenewal(l, time.Since(began), err)
	switch {
	case isNotFound(err):
		// The agent forgot the check: a dev agent restarted, someone
		// deregistered the node, or deregister_critical_service_after
		// reaped it during a long partition. The session was tied to the
		// check, so it is gone too.
		m.registrationLost()
		if justRegistered {
			// Consul accepted the registration yet does not know the
			// check: retrying at once would only spin.
			return m.consulFailed(l, "renew after registering", err)
		}
		m.log.Warn("registration lost; registering again", "err", err)
		return 0
	case err != nil:
		return m.consulFailed(l, "renew lease", err)
	}
	if l.consulFailures > 0 {
		m.log.Info("consul answers again", "failures", l.consulFailures)
		l.consulFailures = 0
		m.signalConsulBack()
	}
	if m.needsSession() {
		if err := m.acquireSession(); err != nil {
			m.refused("create a session", err)
			l.sessionFailures++
			m.mu.Lock()
			m.lastConsulErr = err
			m.mu.Unlock()
			if isCriticalCheck(err) {
				// Expected while /healthz fails or right after a renewal
				// revived the TTL check, before the catalog has caught up.
				m.log.Debug("session refused: a check is not passing yet", "err", err)
			} else {
				m.logFailure("create session", l.sessionFailures, err)
			}
			return min(m.cfg.Retry.Delay(l.sessionFailures, rand.Float64()), m.cfg.RenewInterval)
		}
		l.sessionFailures = 0
	}
	if session, needed := m.needsMemberKey(); needed {
		if err := m.claimMemberKey(session); err != nil {
			m.refused("hold the member key "+m.memberKey(), err)
			l.keyFailures++
			if errors.Is(err, errKeyBusy) {
				m.log.Debug("member key not acquired yet", "key", m.memberKey(), "err", err)
			} else {
				m.logFailure("hold the member key", l.keyFailures, err)
			}
			return min(m.cfg.Retry.Delay(l.keyFailures, rand.Float64()), m.cfg.RenewInterval)
		}
		l.keyFailures = 0
	}
	return m.cfg.RenewInterval - time.Since(began)
}

// noteSlowRenewal logs a round whose renewal took, with the lateness of
// the wait before it, more than half the lease's slack (FenceAfter -
// RenewInterval): the phases say whether the renewal waited for a CPU
// (late) or for Consul (took), the two causes of a lease expiring while
// Consul is up.
func (m *Membership) noteSlowRenewal(l *leaseLoop, took time.Duration, err error) {
	if l.late+took <= (m.cfg.FenceAfter-m.cfg.RenewInterval)/2 {
		return
	}
	m.log.Warn("slow lease renewal", "late", l.late.Round(time.Millisecond),
		"took", took.Round(time.Millisecond), "err", err)
}

// consulFailed records a failed registration or renewal and returns the
// delay before the next attempt: backoff with jitter, but never longer
// than RenewInterval, since the lease keeps running out meanwhile.
func (m *Membership) consulFailed(l *leaseLoop, op string, err error) time.Duration {
	m.refused(op, err)
	l.consulFailures++
	m.mu.Lock()
	m.lastConsulErr = err
	m.mu.Unlock()
	m.logFailure(op, l.consulFailures, err)
	return min(m.cfg.Retry.Delay(l.consulFailures, rand.Float64()), m.cfg.RenewInterval)
}

func (m *Membership) isRegistered() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.registered
}

// register (re)registers the service with its two checks. The TTL check
// starts passing, so registering also starts the lease; the HTTP check
// starts critical (Consul's default) until /healthz answers, so a node
// that cannot serve it never looks healthy, not even briefly.
func (m *Membership) register() error {
	ctx, cancel := m.requestContext()
	defer cancel()
	sentAt := m.cfg.Clock()
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := m.consul.Agent().ServiceRegisterOpts(m.registration(), opts); err != nil {
		return err
	}
	m.mu.Lock()
	m.registered = true
	m.mu.Unlock()
	m.renewed(sentAt)
	m.log.Info("registered", "service", m.service, "ttl_check", m.ttlCheckID, "http_check", m.httpCheckID)
	return nil
}

// registration is the service definition Join registers.
func (m *Membership) registration() *api.AgentServiceRegistration {
	host, portStr, _ := net.SplitHostPort(m.cfg.Addr) // Validate checked it
	port, _ := strconv.Atoi(portStr)
	deregister := m.cfg.DeregisterCriticalAfter.String()
	return &api.AgentServiceRegistration{
		ID:      m.cfg.NodeID,
		Name:    m.service,
		Address: host,
		Port:    port,
		Meta: map[string]string{
			metaHTTPAddr: m.cfg.HTTPAddr,
			metaKinds:    strings.Join(m.cfg.Kinds, kindSeparator),
			metaInstance: m.instance,
			metaVersion:  m.cfg.Version,
		},
		Checks: api.AgentServiceChecks{
			{
				CheckID:                        m.ttlCheckID,
				Name:                           "granary lease",
				Notes:                          "renewed every " + m.cfg.RenewInterval.String() + " by the node",
				TTL:                            m.cfg.TTL.String(),
				Status:                         api.HealthPassing,
				DeregisterCriticalServiceAfter: deregister,
			},
			{
				CheckID:                        m.httpCheckID,
				Name:                           "granary health",
				Notes:                          "an actor round trip on the node",
				HTTP:                           "http://" + m.cfg.HTTPAddr + HealthPath,
				Method:                         "GET",
				Interval:                       m.cfg.HTTPCheckInterval.String(),
				Timeout:                        m.cfg.HTTPCheckTimeout.String(),
				DeregisterCriticalServiceAfter: deregister,
			},
		},
	}
}

// maxHedges bounds the renewals in flight at once: FenceAfter /
// RenewInterval (3.5 with the defaults) of them cover the whole lease, and
// more would only add to the load of a Consul already slow to answer.
const maxHedges = 3

// renewHedged renews the lease and waits for the first renewal to succeed
// or every one sent to fail, whose last error it returns. While none has
// answered, it sends another every RenewInterval, up to maxHedges at
// once: renewals sent one after another let the lease's age reach the
// sum of two slow answers (two of 900ms on a loaded Consul fence the
// node), hedged ones only RenewInterval plus one. Each success, late ones
// included, is recorded with its own send time.
func (m *Membership) renewHedged() error {
	results := make(chan error, maxHedges)
	send := func() {
		sentAt := m.cfg.Clock()
		m.goFunc(func() {
			err := m.renew()
			if err == nil {
				m.renewed(sentAt)
			}
			results <- err
		})
	}
	send()
	inFlight := 1
	hedge := time.NewTimer(m.cfg.RenewInterval)
	defer hedge.Stop()
	for {
		select {
		case err := <-results:
			inFlight--
			if err == nil || inFlight == 0 {
				return err
			}
		case <-hedge.C:
			if inFlight < maxHedges {
				send()
				inFlight++
			}
			hedge.Reset(m.cfg.RenewInterval)
		}
	}
}

// renew passes the TTL check once. It waits up to FenceAfter: an answer
// that comes later cannot keep the lease, one that comes sooner always
// helps, even past RequestTimeout.
func (m *Membership) renew() error {
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.FenceAfter)
	defer cancel()
	q := (&api.QueryOptions{}).WithContext(ctx)
	return m.consul.Agent().UpdateTTLOpts(m.ttlCheckID, renewOutput, api.HealthPassing, q)
}

// renewed records a successful renewal sent at sentAt. Renewals can finish
// out of order (a slow one after a fast one); the newest send time wins.
// A renewal sent after the lease had expired marks it lapsed, in the same
// step that publishes the fresh renewal, so no caller ever sees the fresh
// lease without the lapse: the session it would act under may be gone.
func (m *Membership) renewed(sentAt time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !sentAt.After(m.lastRenew) {
		return
	}
	if !m.fenced && renewalLapsed(m.lastRenew, sentAt, m.cfg.FenceAfter) {
		m.lapsed = true
		kick(m.fenceKick)
	}
	m.lastRenew = sentAt
	m.publishLocked()
}

// registrationLost forgets the registration and, with it, the session.
func (m *Membership) registrationLost() {
	m.mu.Lock()
	m.registered = false
	m.dropSessionLocked()
	m.mu.Unlock()
	kick(m.fenceKick)
}

// deregister removes the service and its checks. A registration that is
// already gone counts as success.
func (m *Membership) deregister(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	err := m.consul.Agent().ServiceDeregisterOpts(m.cfg.NodeID, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil && !isNotFound(err) {
		return err
	}
	m.mu.Lock()
	m.registered = false
	m.mu.Unlock()
	return nil
}
