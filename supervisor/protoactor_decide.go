package supervisor

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// parentState is what a strategy keeps about one parent.
type parentState struct {
	tree *Tree
	// pids holds, under one-for-one, the incarnation of each child the tree
	// knows, so that a child spawned again under the same name (a task
	// actor activated again) starts its restart count afresh.
	pids map[string]*actor.PID
	// witness is, under one-for-one, a child that was alive at a failure,
	// kept while it lives: while it does, the parent was not restarted.
	witness *actor.PID
	// nextPrune is the size at which a one-for-one tree next forgets its
	// dead children: twice its size after the last prune, so that pruning
	// costs amortised O(1) per failure, as sweep does for parents.
	nextPrune int
}

// pruneFloor is the size below which a one-for-one tree keeps its dead
// children: a few stale entries cost less than asking the registry.
const pruneFloor = 64

// decide asks sup's tree about child's failure and returns the decision and
// the PIDs of its targets. Under one-for-one its cost does not depend on
// the number of sup's children; the group strategies read them all, which
// suits their few children.
func (s *actorStrategy) decide(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, f Failure, now time.Time,
) (Decision, []*actor.PID) {
	if s.spec.Strategy != OneForOne {
		return s.decideGroup(system, sup, child, f, now)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.oneForOneTree(system, sup, child)
	d := t.Failed(child.Id, f, now, s.opts.rnd())
	s.forgetEscalated(sup, d)
	if len(d.Targets) == 0 {
		return d, nil
	}
	return d, []*actor.PID{child} // one-for-one: the failed child, or nobody
}

// oneForOneTree returns sup's tree, knowing child. A one-for-one decision
// reads only the failed child and the tree's budget, so the tree keeps only
// the children that have failed, not every child of sup.
//
// When a child the tree does not know fails, the tree is replaced by a
// fresh one, with a fresh budget, if no child that was alive at sup's last
// failure is alive any more: sup was restarted. That was the test when the
// tree knew every child; now it asks about the witness (a child alive at a
// failure, kept while it lives) and the children that failed, which is the
// same answer unless both have ended while another child of that time
// lives on; the tree then starts afresh where it used to carry on.
func (s *actorStrategy) oneForOneTree(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID) *Tree {
	p, ok := s.parents[sup]
	switch {
	case !ok:
		p = s.newOneForOne(system, sup)
	case p.pids[child.Id] != nil:
		if p.pids[child.Id] != child {
			p.tree.renew(child.Id) // spawned again under the same name
			p.pids[child.Id] = child
		}
		p.watch(system, sup, child)
		return p.tree
	case !p.anyAlive(system):
		p = s.newOneForOne(system, sup)
	}
	if len(p.tree.children) >= p.nextPrune {
		dead := p.dead(system)
		p.tree.retain(func(c *childState) bool { return !dead(c.ID) })
		p.nextPrune = max(pruneFloor, 2*len(p.tree.children))
	}
	_ = p.tree.Add(Child{ID: child.Id, Restart: Permanent}) // cannot fail: unknown, non-empty
	p.pids[child.Id] = child
	p.watch(system, sup, child)
	return p.tree
}

func (s *actorStrategy) newOneForOne(system *actor.ActorSystem, sup actor.Supervisor) *parentState {
	p := s.newParent(system, sup)
	p.pids = make(map[string]*actor.PID)
	return p
}

// anyAlive reports whether the witness or a child that failed is alive,
// forgetting the failed children it finds dead on the way.
func (p *parentState) anyAlive(system *actor.ActorSystem) bool {
	return alive(system, p.witness) || p.tree.trimDead(p.dead(system)) > 0
}

// watch keeps the witness while it lives, and otherwise takes the first of
// sup's children (the oldest, unless a sibling has ended since: protoactor
// moves the last child into the freed slot) if it lives, or child.
func (p *parentState) watch(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID) {
	if alive(system, p.witness) {
		return
	}
	p.witness = child
	if children := sup.Children(); len(children) > 0 && alive(system, children[0]) {
		p.witness = children[0]
	}
}

func alive(system *actor.ActorSystem, pid *actor.PID) bool {
	if pid == nil {
		return false
	}
	_, ok := system.ProcessRegistry.GetLocal(pid.Id)
	return ok
}

// dead returns a test for the children of p that have terminated; it
// forgets their incarnations as it finds them.
func (p *parentState) dead(system *actor.ActorSystem) func(id string) bool {
	return func(id string) bool {
		if pid := p.pids[id]; alive(system, pid) {
			return false
		}
		delete(p.pids, id)
		return true
	}
}

// decideGroup decides under one-for-all and rest-for-one, whose targets are
// the failed child's siblings: the tree knows every live child of sup, in
// the order sup reports them.
func (s *actorStrategy) decideGroup(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, f Failure, now time.Time,
) (Decision, []*actor.PID) {
	// Children returns protoactor's internal slice: read it, never keep or
	// append to it.
	children := sup.Children()
	live := make(map[string]*actor.PID, len(children)+1)
	order := make([]*actor.PID, 0, len(children)+1)
	for _, pid := range children {
		live[pid.Id] = pid
		order = append(order, pid)
	}
	if _, ok := live[child.Id]; !ok {
		live[child.Id] = child
		order = append(order, child)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.groupTree(system, sup, live)
	for _, pid := range order {
		if _, known := t.child(pid.Id); !known {
			_ = t.Add(Child{ID: pid.Id, Restart: Permanent}) // cannot fail: unique, non-empty
		}
	}
	d := t.Failed(child.Id, f, now, s.opts.rnd())
	s.forgetEscalated(sup, d)
	// All children are Permanent, so d.Discard is always empty.
	return d, lookup(live, d.Targets)
}

// forgetEscalated drops sup's tree when d escalates: the grandparent
// restarts or stops sup, and either way its children are gone; a restarted
// parent starts with a fresh budget, as an Erlang supervisor does.
func (s *actorStrategy) forgetEscalated(sup actor.Supervisor, d Decision) {
	if d.Directive == Escalate {
		delete(s.parents, sup)
	}
}

// groupTree returns sup's tree after dropping children that are no longer
// alive. A tree none of whose children survive belongs to a parent that was
// restarted, so it is replaced by a fresh one.
func (s *actorStrategy) groupTree(system *actor.ActorSystem, sup actor.Supervisor, live map[string]*actor.PID) *Tree {
	if p, ok := s.parents[sup]; ok {
		t := p.tree
		known := len(t.children)
		t.retain(func(c *childState) bool { _, ok := live[c.ID]; return ok })
		if known == 0 || len(t.children) > 0 {
			return t
		}
	}
	return s.newParent(system, sup).tree
}

// newParent gives sup a fresh tree, first sweeping dead parents away when
// their number has doubled since the last sweep.
func (s *actorStrategy) newParent(system *actor.ActorSystem, sup actor.Supervisor) *parentState {
	if len(s.parents) >= s.nextSweep {
		s.sweep(system)
	}
	p := &parentState{tree: &Tree{spec: s.spec, index: make(map[string]*childState)}, nextPrune: pruneFloor}
	s.parents[sup] = p
	return p
}

// sweep forgets parents that have terminated. It runs when the map has
// doubled since the last sweep, which keeps its cost amortised O(1) per
// failure.
func (s *actorStrategy) sweep(system *actor.ActorSystem) {
	for sup := range s.parents {
		if self, ok := sup.(interface{ Self() *actor.PID }); ok && !alive(system, self.Self()) {
			delete(s.parents, sup)
		}
	}
	s.nextSweep = max(sweepFloor, 2*len(s.parents))
}

func lookup(live map[string]*actor.PID, ids []string) []*actor.PID {
	pids := make([]*actor.PID, 0, len(ids))
	for _, id := range ids {
		if pid, ok := live[id]; ok {
			pids = append(pids, pid)
		}
	}
	return pids
}
