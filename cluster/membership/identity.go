package membership

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// NodePolicy is the Consul ACL policy a Granary node of cluster needs, in
// Consul's rules language, and nothing more: its service and checks
// (granary-<cluster>), reading the other members and the agents' nodes,
// sessions (its lease, member key and activation locks), and the
// cluster's keys (member keys, tasks, indexes, jobs, the grain directory).
// It is scoped to one cluster: a member of one cluster cannot register
// in, nor write the keys of, another cluster on the same Consul. Consul
// scopes session rules by Consul node, not by name, so "session_prefix"
// stays wide; a session without key write on a cluster's prefix cannot
// hold a member key there. The README lists it; TestConsulACLs (and the
// node's TestConsulACLPolicy) join with exactly it, and TestConsulACLs
// shows another cluster's join and writes refused. cluster must be valid
// (Config.Validate).
func NodePolicy(cluster string) string {
	return fmt.Sprintf(`service %[1]q { policy = "write" }
node_prefix "" { policy = "read" }
agent_prefix "" { policy = "read" }
session_prefix "" { policy = "write" }
key_prefix %[2]q { policy = "write" }
`, servicePrefix+cluster, "granary/"+cluster+"/")
}

// ClientPolicy is the Consul ACL policy a client needs to find cluster's
// members through Consul (the CLI's --consul/--cluster, Discover): read
// the service, the nodes and the member keys.
func ClientPolicy(cluster string) string {
	return fmt.Sprintf(`service %[1]q { policy = "read" }
node_prefix "" { policy = "read" }
key_prefix %[2]q { policy = "read" }
`, servicePrefix+cluster, memberKeyPrefix(cluster))
}

// metaInstance is the service meta key of the process that registered a
// member: a random id per Membership, so a member can tell its own
// registration (or a previous run's) from another process's under the
// same node id.
const metaInstance = "instance"

func newInstanceID() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// duplicateVerdict is what checkUnique concludes from one look at the
// registrations under this node id.
type duplicateVerdict int

const (
	unique      duplicateVerdict = iota // nobody else holds the id
	lapsing                             // another registration whose lease may be lapsing (a run killed moments ago)
	duplicateOf                         // another process renews a lease under the id
)

// judgeDuplicate is the pure core of checkUnique: entries are the
// registrations of the cluster's service, local the TTL check of nodeID as
// this node's own Consul agent holds it (nil: the agent has none, or
// could not say), firstSeen when another live registration under the id
// was first seen (zero: not yet), now the time. A live registration of
// another instance may be a previous run of this node killed moments ago,
// whose lease lapses within the TTL: it is waited for. One still renewed
// after wait is another process.
//
// The catalog can list a dead run's lease as passing long after it
// lapsed: the agent that ran the TTL timer marks it critical at once, but
// its anti-entropy does not retry a failed sync of that change (a Consul
// leader election, a token rotated away) until the next change or its
// periodic full sync, a minute or more later. A registration on this
// node's own agent is therefore judged by what that agent says: critical
// there is lapsed, whatever the catalog still shows, so a member restarted
// by its supervisor right after a kill -9 waits out its predecessor's
// lease instead of taking it for another process.
//
// gossip holds the Consul nodes that this node's agent lists in its LAN
// gossip pool and that have not left it (nil: it could not say). A
// registration on a node that is not there, still after half the wait (one
// TTL), is a dead predecessor's
// whatever its checks show: no process can renew a lease through an agent
// that is gone, and Consul has invalidated every session tied to that
// node's serfHealth. That is the catalog a snapshot restored into a fresh
// quorum leaves: the old agents' nodes with their checks passing, until
// the leader reaps them (a minute or more).
func judgeDuplicate(entries []*api.ServiceEntry, local *api.AgentCheck, gossip map[string]bool, nodeID, instance, ttlCheckID string, firstSeen, now time.Time, wait time.Duration) (duplicateVerdict, string) {
	for _, e := range entries {
		if e.Service == nil || e.Service.ID != nodeID || e.Service.Meta[metaInstance] == instance {
			continue
		}
		if lapsedAtAgent(e, local, ttlCheckID) {
			continue
		}
		// Waited for, as a lapsing lease is, for gossip to settle: an
		// agent that has just joined may not have reached ours yet.
		if goneFromGossip(e, gossip) && !firstSeen.IsZero() && now.Sub(firstSeen) >= wait/2 {
			continue
		}
		for _, c := range e.Checks {
			if c.CheckID != ttlCheckID || c.Status != api.HealthPassing {
				continue
			}
			who := fmt.Sprintf("instance %s on Consul node %s (%s:%d)", e.Service.Meta[metaInstance], e.Node.Node, e.Service.Address, e.Service.Port)
			if !firstSeen.IsZero() && now.Sub(firstSeen) >= wait {
				return duplicateOf, who
			}
			return lapsing, who
		}
	}
	return unique, ""
}

// lapsedAtAgent reports whether e is registered through this node's own
// agent (local is that agent's copy of e's TTL check) and that agent, which
// runs the TTL timer, no longer has the lease passing.
func lapsedAtAgent(e *api.ServiceEntry, local *api.AgentCheck, ttlCheckID string) bool {
	return local != nil && e.Node != nil && local.Node == e.Node.Node &&
		local.CheckID == ttlCheckID && local.ServiceID == e.Service.ID && local.Status != api.HealthPassing
}

// goneFromGossip reports whether e is registered on a Consul node that is
// not in this node's agent's gossip pool, or has left it (gossip; nil:
// unknown, and then nothing is gone). A node the pool lists as failed is
// not gone: a partitioned agent comes back with its registrations, and the
// lease check of the process behind it decides, as before.
func goneFromGossip(e *api.ServiceEntry, gossip map[string]bool) bool {
	return gossip != nil && e.Node != nil && !gossip[e.Node.Node]
}

// onOwnAgent reports whether the registration who describes (judgeDuplicate)
// is the one this node's agent holds.
func onOwnAgent(entries []*api.ServiceEntry, local *api.AgentCheck, nodeID string) bool {
	if local == nil {
		return false
	}
	for _, e := range entries {
		if e.Service != nil && e.Service.ID == nodeID && e.Node != nil && e.Node.Node == local.Node {
			return true
		}
	}
	return false
}

// checkUnique refuses to join under a node id that another live process
// holds: it would take that member's registration, and the two would
// fence each other in turn. It waits up to two TTLs for a registration
// that may be a previous run's (killed, its lease not yet lapsed), and
// for Consul while it cannot be reached, until ctx ends.
func (m *Membership) checkUnique(ctx context.Context) error {
	var firstSeen time.Time
	wait := 2 * m.cfg.TTL
	for failures := 0; ; {
		q := (&api.QueryOptions{}).WithContext(ctx)
		entries, _, err := m.consul.Health().Service(m.service, "", false, q)
		var pairs api.KVPairs
		if err == nil {
			pairs, _, err = m.consul.KV().List(memberKeyPrefix(m.cfg.Cluster), q)
		}
		if err != nil {
			if isForbidden(err) {
				return notAllowed("reading the cluster's registrations", err)
			}
			failures++
			m.mu.Lock()
			m.lastConsulErr = err
			m.mu.Unlock()
			m.logFailure("check the node id is free", failures, err)
			if !sleep(ctx, m.cfg.Retry.Delay(failures, rand.Float64()), nil) {
				return fmt.Errorf("%w: join %s: %w (last consul error: %v)", ErrUnavailable, m.cfg.NodeID, context.Cause(ctx), err)
			}
			continue
		}
		if err := m.remotingConflict(pairs); err != nil {
			return err
		}
		local := m.localLease(ctx)
		now := m.cfg.Clock()
		verdict, who := judgeDuplicate(entries, local, m.gossipNodes(ctx), m.cfg.NodeID, m.instance, m.ttlCheckID, firstSeen, now, wait)
		switch verdict {
		case unique:
			if !firstSeen.IsZero() || onOwnAgent(entries, local, m.cfg.NodeID) {
				m.log.Info("the node id is free: the lease of its previous holder has lapsed", "consul_agent_status", agentStatus(local))
			}
			return nil
		case duplicateOf:
			return fmt.Errorf("%w: node id %s is taken by a live member (%s) that has renewed its lease for %s; give this node another --node-id",
				ErrDuplicateNode, m.cfg.NodeID, who, wait)
		}
		if firstSeen.IsZero() {
			firstSeen = now
			if onOwnAgent(entries, local, m.cfg.NodeID) {
				m.log.Warn("a previous run of this node holds its lease on this host's Consul agent; waiting for it to lapse (restarted right after it died?)",
					"holder", who, "wait", wait.String())
			} else {
				m.log.Warn("another registration holds this node id; waiting for its lease to lapse (a previous run?), or for its Consul node to prove gone (restored from a snapshot?)", "holder", who, "wait", wait.String())
			}
		}
		if !sleep(ctx, m.cfg.RenewInterval, nil) {
			return fmt.Errorf("%w: join %s: %w", ErrUnavailable, m.cfg.NodeID, context.Cause(ctx))
		}
	}
}

// localLease is this node id's TTL check as the node's own Consul agent
// holds it: nil when the agent has none (the registration, if any, is on
// another agent) or cannot say, which leaves the catalog as the only
// witness, as before.
func (m *Membership) localLease(ctx context.Context) *api.AgentCheck {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	filter := fmt.Sprintf("CheckID == %q", m.ttlCheckID)
	checks, err := m.consul.Agent().ChecksWithFilterOpts(filter, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		m.log.Debug("could not read the lease check from the local Consul agent", "err", err)
		return nil
	}
	return checks[m.ttlCheckID]
}

// gossipNodes are the Consul nodes this node's agent lists in its LAN
// gossip pool, but for those that left it; nil when it cannot say (a Consul without agents' gossip,
// a token without agent read), which leaves the checks as the only witness.
func (m *Membership) gossipNodes(ctx context.Context) map[string]bool {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	// Agent().Members takes no context; the raw query does, so an agent
	// that hangs cannot hold the join past RequestTimeout.
	var members []*api.AgentMember
	_, err := m.consul.Raw().Query("/v1/agent/members", &members, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		m.log.Debug("could not read the gossip pool from the local Consul agent", "err", err)
		return nil
	}
	return poolNodes(members)
}

// poolNodes are the names of members but for those that left the pool.
func poolNodes(members []*api.AgentMember) map[string]bool {
	in := make(map[string]bool, len(members))
	for _, mb := range members {
		if mb.Status != serfLeft {
			in[mb.Name] = true
		}
	}
	return in
}

// serfLeft is serf's member status "left" (api.AgentMember.Status; the
// api package documents the values but declares no constants): the agent
// left the pool, and Consul deregisters its node.
const serfLeft = 3

// agentStatus is local's status for a log line.
func agentStatus(local *api.AgentCheck) string {
	if local == nil {
		return "unknown"
	}
	return local.Status
}

// isForbidden reports Consul refusing a request for want of permission:
// an ACL token without the rights, or no token where ACLs deny by default.
func isForbidden(err error) bool {
	if se, ok := asStatusError(err); ok {
		return se.Code == 403
	}
	msg := err.Error()
	return strings.Contains(msg, "Permission denied") || strings.Contains(msg, "ACL not found")
}

// notAllowed is the error of a request Consul refused for its ACLs.
func notAllowed(what string, err error) error {
	return fmt.Errorf("%w: %s: %v; the node's Consul token (CONSUL_HTTP_TOKEN, or CONSUL_HTTP_TOKEN_FILE) lacks a permission of the policy in the README (\"Securing a cluster\")",
		ErrNotAllowed, what, err)
}

// refused reports a permanent refusal while joining, so Join fails with
// it at once instead of retrying forever; after the node joined, the
// lease loop goes on retrying (a token may be fixed) and fencing applies.
func (m *Membership) refused(what string, err error) {
	if !isForbidden(err) {
		return
	}
	m.mu.Lock()
	joined := m.joined
	m.mu.Unlock()
	if joined {
		return
	}
	select {
	case m.fatal <- notAllowed(what, err):
	default:
	}
}
