package node

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/granary-rt/granary/cluster/membership"
	consul "github.com/hashicorp/consul/api"
)

// join joins the cluster through Consul, then follows its views.
func (n *Node) join(ctx context.Context) error {
	mcfg := membership.DefaultConfig()
	mcfg.Cluster, mcfg.NodeID, mcfg.Addr, mcfg.HTTPAddr, mcfg.Kinds = n.cfg.Cluster, n.id, n.sys.Address(), n.HTTPAddr(), n.hosted
	mcfg.Version, mcfg.Remoting = n.version, n.sec.remoting
	// The lease is renewed over connections of its own, which no load on
	// the store's (writes, waiters) can take: a member whose renewals
	// queued behind them would fence itself. Without a transport or an
	// HTTP client of the caller's, membership makes its own.
	lease := *n.cfg.Consul
	if lease.HttpClient == nil {
		lease.Transport = nil
		if n.metrics != nil {
			n.leaseHTTP = consul.DefaultConfig().Transport
			lease.Transport = n.leaseHTTP
		}
	}
	leaseCfg, err := n.consulConfig(&lease)
	if err != nil {
		return fmt.Errorf("node: consul client for the lease: %w", err)
	}
	mcfg.Consul, mcfg.Logger = leaseCfg, n.log
	mcfg.OnFence = func() {
		n.log.Warn("self-fenced: lease or session with Consul lost; stopping every grain and task")
		n.host.Fence()
		n.mgr.Fence()
	}
	mcfg.OnUnfence = func() {
		n.log.Info("lease restored; taking activations and tasks again")
		n.mgr.Resume()
		n.recon.Kick()
	}
	n.log.Info("joining the cluster through Consul", "cluster", n.cfg.Cluster, "consul", n.cfg.Consul.Address,
		"bind", n.sys.Address(), "http", n.HTTPAddr(), "kinds", n.hosted)
	m, err := membership.Join(ctx, mcfg)
	if err != nil {
		return fmt.Errorf("node: joining cluster %s: %w", n.cfg.Cluster, err)
	}
	n.mem.Store(m)
	views, stop := m.Watch()
	n.stopViews, n.viewsDone = stop, make(chan struct{})
	n.applyView(m.View())
	n.recon.Start()
	n.clocks = newClockCheck(n)
	n.clocks.check(m.View())
	n.probe.Store(startPeerProbe(n, cmp.Or(n.cfg.PeerProbe, DefaultPeerProbeConfig())))
	go func() {
		defer close(n.viewsDone)
		for v := range views {
			n.applyView(v)
			n.clocks.check(v)
		}
	}()
	n.log.Info("granary node started", "members", len(m.View().Members), "http", n.memberURL(n.HTTPAddr()), "console", n.consoleURL(),
		"task_kinds", n.hostedOf(n.cfg.Registry.TaskKinds()), "grain_kinds", n.host.HostedKinds(), "api_auth", n.apiAuth())
	return nil
}

// applyView gives a new view of the cluster to grain routing, task
// placement and the reconciler. Only the view goroutine calls it (and
// join, before that goroutine starts).
func (n *Node) applyView(v membership.View) {
	if n.metrics != nil {
		n.health.update(v, time.Now())
	}
	pv := placeable(v)
	n.host.SetView(toGrainMembers(pv))
	ms := toPlacement(pv)
	n.placed.Store(&ms)
	n.recon.SetView(ms)
}
