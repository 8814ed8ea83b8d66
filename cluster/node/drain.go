package node

import (
	"context"
	"time"

	"github.com/granary-rt/granary/cluster/membership"
)

// The graceful stop of a cluster member (Stop) runs in this order, so that
// nothing runs twice because of it:
//
//  1. drain: the member marks itself draining in its member record in
//     Consul (membership.Drain).
//     It stays a healthy member holding its lease and session, so nobody
//     adopts its work, but every member (itself included) places new tasks
//     and grain activations elsewhere (placeable).
//  2. tasks: the task manager refuses new work and lets running attempts
//     finish and commit, until the drain's deadline (DrainTimeout less
//     leaveReserve). What is still running then is handed off: its actors
//     stop, and the member leaves at once, so a survivor adopts it with a
//     higher epoch (the abandoned attempt can no longer commit).
//  3. grains: the grain host deactivates its activations, releasing their
//     claims. From here on /healthz no longer asks the grain router (it is
//     stopping): the health check never fails because of the drain itself.
//  4. leave: the session is destroyed and the registration removed; the
//     survivors' views drop the member and adopt whatever it handed off.
//
// Before this order, the grain host stopped first, /healthz failed with
// "dead letter", Consul invalidated the session and the member fenced
// itself, killing attempts that would have finished within seconds; the
// survivors then ran them again (issue 19).

// leaveReserve is the part of DrainTimeout kept for handing off and
// leaving (grain deactivation, destroying the session, deregistering) after
// the tasks' drain: a fifth of it, at most 3s (both take milliseconds on a
// healthy Consul), so the process exits within DrainTimeout, the time its
// supervisor (Kubernetes' grace period) gives it.
func leaveReserve(drain time.Duration) time.Duration { return min(drain/5, 3*time.Second) }

// drainSeenWait bounds waiting, after marking the member draining, until
// its own view shows the mark: the other members' views follow the same
// Consul index within milliseconds, so submits placed on this member by
// views from before the mark have stopped by then. A second is generous;
// past it the drain goes on (such a submit is refused and stored for this
// member, which hands it off when it leaves).
const drainSeenWait = time.Second

// markDraining tells the cluster this member drains (step 1), and waits
// until its view shows it, within drainSeenWait and ctx. A failure is
// logged: the drain still goes on, the member being refused new work here.
func (n *Node) markDraining(ctx context.Context) {
	m := n.mem.Load()
	if m == nil {
		return
	}
	if err := m.Drain(ctx); err != nil {
		n.log.Warn("could not mark the member draining in Consul; draining anyway", "err", err)
		return
	}
	deadline := time.NewTimer(drainSeenWait)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if me, ok := m.View().Member(n.id); !ok || me.Draining {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// drainTasks is steps 1 and 2: it returns the tasks' drain error, set
// when attempts were still running at the deadline and were handed off.
func (n *Node) drainTasks(ctx context.Context) error {
	n.draining.Store(true)
	n.markDraining(ctx)
	if n.recon != nil {
		n.recon.Stop() // a draining member adopts nothing
	}
	if n.sched != nil {
		n.sched.Stop() // nor fires schedules: the survivors own them now
	}
	if n.mgr == nil {
		return nil
	}
	if err := n.mgr.Stop(ctx); err != nil {
		n.log.Warn("drain time-out: handing off the attempts still running; they run again on a survivor", "err", err)
		return err
	}
	return nil
}

// healthz is the cluster member's /healthz: a round trip through the grain
// router (a wedged actor system fails it), and the peer probe's verdict
// (a member whose remoting reaches none of its peers fails it,
// peerprobe.go), until the drain stops the grain host (step 3), after
// which the member is leaving and answers healthy so that Consul does not
// invalidate the session it still leaves with. A draining member no
// longer fails it for its peers either: no new work is placed on it, and
// failing would fence the attempts it is letting finish.
func (n *Node) healthz(ctx context.Context) error {
	if n.hostStopping.Load() {
		return nil
	}
	if err := n.peerHealth(); err != nil {
		return err
	}
	return n.host.Ping(ctx)
}

// peerHealth is the peer probe's verdict, which a draining member ignores.
func (n *Node) peerHealth() error {
	if n.draining.Load() {
		return nil
	}
	return n.probe.Load().verdict()
}

// placeable is v as placement sees it: a draining member hosts no kind
// there, so no new task or grain activation is placed on it, while it
// stays in the view (its work is not orphaned, and calls to its current
// activations still reach it).
func placeable(v membership.View) membership.View {
	out := membership.View{Version: v.Version, Members: make([]membership.Member, len(v.Members))}
	for i, m := range v.Members {
		if m.Draining {
			m.Kinds = nil
		}
		out.Members[i] = m
	}
	return out
}
