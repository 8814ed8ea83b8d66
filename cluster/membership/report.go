package membership

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// LeaseAge is how long ago the last renewal Consul acknowledged was sent,
// by the monotonic clock; ok is false before the first renewal.
func (m *Membership) LeaseAge() (age time.Duration, ok bool) {
	s := m.lease.Load()
	if s == nil || s.lastRenew.IsZero() {
		return 0, false
	}
	return m.cfg.Clock().Sub(s.lastRenew), true
}

// Registration is a member as Consul has it registered, healthy or not.
type Registration struct {
	Member
	// Healthy: every check passes (the member is in the views).
	Healthy bool
	// Failing names the checks that do not pass, with their output.
	Failing string
}

// Registered lists every member registered in Consul, healthy or not: a
// killed member stays registered, failing its checks, until Consul reaps
// it (DeregisterCriticalAfter). Sorted by id. One Consul request; it is for
// the console and operators, not for routing (use View).
func (m *Membership) Registered(ctx context.Context) ([]Registration, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	entries, _, err := m.consul.Health().Service(m.service, "", false, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("%w: listing cluster %s in Consul: %w", ErrUnavailable, m.cfg.Cluster, err)
	}
	pairs, _, err := m.consul.KV().List(memberKeyPrefix(m.cfg.Cluster), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("%w: listing cluster %s's member keys in Consul: %w", ErrUnavailable, m.cfg.Cluster, err)
	}
	out := make([]Registration, 0, len(entries))
	for _, e := range entries {
		if e == nil || e.Service == nil {
			continue
		}
		r := Registration{Healthy: true}
		var failing []string
		members, ignoredRegs := rosterOf(m.cfg.Cluster, []*api.ServiceEntry{e}, pairs)
		if len(members) > 0 {
			r.Member = members[0]
		} else {
			// Not a member: shown as Consul has it, for the operator.
			s := e.Service
			r.Member = Member{ID: s.ID, Addr: net.JoinHostPort(s.Address, strconv.Itoa(s.Port)), HTTPAddr: s.Meta[metaHTTPAddr],
				Kinds: parseKinds(s.Meta[metaKinds]), Version: s.Meta[metaVersion]}
			r.Healthy = false
			for _, ig := range ignoredRegs {
				failing = append(failing, "not a member: "+ig.reason)
			}
		}
		for _, c := range e.Checks {
			if c.Status == api.HealthPassing {
				continue
			}
			r.Healthy = false
			out := strings.TrimSpace(c.Output)
			if len(out) > 200 {
				out = out[:200] + "…"
			}
			failing = append(failing, fmt.Sprintf("%s %s: %s", c.Name, c.Status, out))
		}
		r.Failing = strings.Join(failing, "; ")
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Registration) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
