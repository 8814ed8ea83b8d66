package node

import (
	"context"

	"github.com/granary-rt/granary/cluster/reconciler"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/tasks"
	consul "github.com/hashicorp/consul/api"
)

// startTasks opens the task store (Consul KV in a cluster, bbolt when
// embedded), starts the task manager, and in a cluster makes the
// reconciler that adopts the tasks of members that leave.
func (n *Node) startTasks(ctx context.Context, cc *consul.Client) error {
	tcfg := tasks.DefaultConfig(n.id)
	tcfg.Registry, tcfg.System, tcfg.Logger, tcfg.Retention = n.cfg.Registry, n.sys, n.log, n.cfg.Retention
	tcfg.Abandoned, tcfg.ParkIdle = n.cfg.AbandonedAttempts, !n.cfg.KeepIdleActors
	var index reconciler.Index // the owner index, in a cluster
	if n.cfg.Embedded() {
		n.st = n.bolt
		// The store is this node's alone: every unfinished task is its own.
		tcfg.RecoverAll = true
	} else {
		scfg := consulstore.DefaultConfig(n.cfg.Cluster)
		scfg.Logger = n.log // the index's reconciles report there
		scfg.Writer = n.id  // a restarted member writes the counter shards it wrote before
		cs, err := consulstore.New(cc, scfg)
		if err != nil {
			return err
		}
		n.st, index = cs, cs
		tcfg.Fenced = n.fenced
		tcfg.Owner = n.taskOwner
		// One member sweeps expired tasks: the placement owner of "janitor".
		tcfg.Janitor = func() bool { return janitor(n.view()) == n.id }
		tcfg.Peers = &peers{sys: n.sys, self: n.id, view: n.view, client: n.memberClient}
	}
	tcfg.Store, tcfg.TracerProvider, tcfg.Metrics = n.metrics.Store(n.st), n.tp, n.metrics
	mgr, err := tasks.New(tcfg)
	if err != nil {
		return err
	}
	n.mgr = mgr
	if err := mgr.Start(ctx); err != nil {
		return err
	}
	if err := n.startSchedules(tcfg.Owner, tcfg.Fenced); err != nil {
		return err
	}
	if index != nil {
		rcfg := reconciler.DefaultConfig()
		rcfg.Member, rcfg.Index, rcfg.Tasks, rcfg.Fenced, rcfg.Logger, rcfg.Metrics = n.id, index, mgr, n.fenced, n.log, n.metrics
		if n.recon, err = reconciler.New(rcfg); err != nil {
			return err
		}
	}
	return nil
}
