package node

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/membership"
)

// What the web console (package console) reads besides the task routes:
// this member's report (GET /v1/member) and the cluster's (GET /v1/cluster).

// processStart is when this process started, as near as the node knows.
var processStart = time.Now().UTC()

// clusterReportTimeout bounds asking the members for their reports: a
// member that does not answer within it shows without one.
const clusterReportTimeout = time.Second

// clusterReportEvery: a cluster report is reused for this long, so many
// consoles on one node cost the members no more questions than one.
const clusterReportEvery = time.Second

// selfReport is this member's report on itself.
func (n *Node) selfReport(ctx context.Context) (api.MemberReport, error) {
	rep := api.MemberReport{ID: n.id, Kinds: n.hosted, Version: n.version, Activations: n.host.Activations(), StartedAt: processStart, Now: time.Now().UTC()}
	if rep.Kinds == nil {
		rep.Kinds = []string{}
	}
	if n.mgr != nil {
		rep.Running = n.mgr.Running()
		ab := n.mgr.Abandoned()
		rep.Abandoned, rep.AbandonedByKind = ab.Count, ab.ByKind
		rep.AbandonedCaps = api.AbandonedCaps{PerKind: ab.Limits.PerKind, PerMember: ab.Limits.PerMember}
	}
	if !n.cfg.Embedded() {
		m := n.mem.Load()
		if m == nil {
			rep.Fenced, rep.FenceReason = true, "not joined yet"
		} else {
			if err := m.CheckLease(); err != nil {
				rep.Fenced, rep.FenceReason = true, err.Error()
			}
			if age, ok := m.LeaseAge(); ok {
				d := api.Duration(age.Round(time.Millisecond))
				rep.LeaseAge = &d
			}
		}
	}
	counts, err := n.host.ActivationsByKind(ctx, api.MaxSampleIdentities)
	if err != nil {
		return rep, err
	}
	rep.ByKind = make([]api.KindActivations, 0, len(counts))
	for _, c := range counts {
		rep.ByKind = append(rep.ByKind, api.KindActivations{Kind: c.Kind, Count: c.Count, Identities: c.Identities})
	}
	return rep, nil
}

// clusterReports makes and caches the cluster report.
type clusterReports struct {
	mu   sync.Mutex // held while a report is made: one at a time
	last api.ClusterReport
	at   time.Time
}

// clusterReport lists every registered member, healthy or not, each with
// its own report (this member answers for itself, the others are asked
// with this member's credentials, in parallel, within
// clusterReportTimeout).
func (n *Node) clusterReport(ctx context.Context) (api.ClusterReport, error) {
	c := &n.reports
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < clusterReportEvery {
		return c.last, nil
	}
	rep, err := n.makeClusterReport(ctx)
	if err != nil {
		return rep, err
	}
	c.last, c.at = rep, time.Now()
	return rep, nil
}

func (n *Node) makeClusterReport(ctx context.Context) (api.ClusterReport, error) {
	out := api.ClusterReport{Member: n.id, At: time.Now().UTC()}
	if n.cfg.Embedded() {
		self, err := n.selfReport(ctx)
		m := api.MemberOverall{ID: n.id, Kinds: self.Kinds, Version: n.version, Health: api.HealthHealthy, Report: &self}
		if err != nil {
			m.Report, m.Error = nil, err.Error()
		}
		out.Members, out.Count = []api.MemberOverall{m}, 1
		return out, nil
	}
	m := n.mem.Load()
	if m == nil {
		return out, errors.New("this member has not joined the cluster yet")
	}
	regs, err := m.Registered(ctx)
	if err != nil {
		// Consul does not answer: the last view is what this member knows.
		for _, v := range m.View().Members {
			regs = append(regs, membership.Registration{Member: v, Healthy: true, Failing: "Consul did not answer; health as last seen"})
		}
	}
	out.Members = make([]api.MemberOverall, len(regs))
	ctx, cancel := context.WithTimeout(ctx, clusterReportTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, r := range regs {
		mo := api.MemberOverall{ID: r.ID, Kinds: r.Kinds, Version: r.Version, Health: api.HealthHealthy, Checks: redactAddrs(r.Failing, r.Member)}
		if !r.Healthy {
			mo.Health = api.HealthUnhealthy
		}
		out.Members[i] = mo
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now()
			rep, err := n.memberReport(ctx, r.Member)
			if err != nil {
				out.Members[i].Error = redactAddrs(err.Error(), r.Member)
				return
			}
			out.Members[i].Report = &rep
			if r.ID != n.id && !rep.Now.IsZero() {
				d := api.Duration(skewOf(rep.Now, sent, time.Now()).Round(time.Millisecond))
				out.Members[i].ClockSkew = &d
			}
		}()
	}
	wg.Wait()
	out.Count = len(out.Members)
	return out, nil
}

// memberReport asks member m for its report (this member answers itself).
func (n *Node) memberReport(ctx context.Context, m membership.Member) (api.MemberReport, error) {
	if m.ID == n.id {
		return n.selfReport(ctx)
	}
	if m.HTTPAddr == "" {
		return api.MemberReport{}, errors.New("no HTTP address registered")
	}
	c, err := n.memberClient(m.HTTPAddr, time.Millisecond)
	if err != nil {
		return api.MemberReport{}, err
	}
	return memberReportOf(ctx, c)
}

func memberReportOf(ctx context.Context, c *client.Client) (api.MemberReport, error) {
	rep, err := c.MemberReport(ctx)
	if err != nil {
		return api.MemberReport{}, err
	}
	return *rep, nil
}

// redactAddrs takes m's addresses out of s (a Consul check's output, an
// error dialling it): GET /v1/cluster needs only a read token, and the
// cluster's addresses are for write tokens (GET /v1/members).
func redactAddrs(s string, m membership.Member) string {
	for _, a := range []struct{ addr, name string }{{m.HTTPAddr, "HTTP"}, {m.Addr, "node-to-node"}} {
		if a.addr != "" {
			s = strings.ReplaceAll(s, a.addr, "<"+m.ID+"'s "+a.name+" address>")
		}
	}
	return s
}
