package node

import (
	"github.com/granary-rt/granary/cluster/schedule"
	"github.com/granary-rt/granary/cluster/store"
)

// startSchedules starts the schedule service over the task store (both
// stores keep schedules): this member fires the schedules it owns by the
// tasks' placement (owner), and none while fenced.
func (n *Node) startSchedules(owner func(kind, id string) string, fenced func() bool) error {
	st, ok := n.st.(store.Schedules)
	if !ok {
		return nil
	}
	cfg := schedule.DefaultConfig(n.id)
	cfg.Store, cfg.Tasks, cfg.Registry, cfg.Logger = st, n.mgr, n.cfg.Registry, n.log
	cfg.Owner, cfg.Fenced = owner, fenced
	svc, err := schedule.New(cfg)
	if err != nil {
		return err
	}
	n.sched = svc
	svc.Start()
	return nil
}
