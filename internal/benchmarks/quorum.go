package benchmarks

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/supervisor"
)

// quorumTopology is Consul as docs/operators.md deploys it, on loopback:
// three servers in a Raft quorum and one client agent per member host,
// each member talking to its own agent (internal/testconsul.StartQuorum).
type quorumTopology struct {
	q      *testconsul.Quorum
	agents []*testconsul.Agent // one per member, in member order
}

// startQuorumTopology starts the three servers and hosts client agents.
func startQuorumTopology(b *testing.B, hosts int) *quorumTopology {
	b.Helper()
	t := &quorumTopology{q: testconsul.StartQuorum(b, testconsul.QuorumOptions{})}
	for range hosts {
		t.agents = append(t.agents, t.q.AddClient(b))
	}
	return t
}

// addrs are the client agents' HTTP addresses, one per member.
func (t *quorumTopology) addrs() []string {
	var out []string
	for _, a := range t.agents {
		out = append(out, a.HTTPAddr())
	}
	return out
}

// pids are every Consul process: the servers, then the client agents.
func (t *quorumTopology) pids() []int {
	var out []int
	for _, a := range append(append([]*testconsul.Agent(nil), t.q.Servers...), t.agents...) {
		out = append(out, a.PID())
	}
	return out
}

// waitTolerant waits until the quorum can lose a server again: every
// server is back in Raft and Consul's autopilot reports a failure
// tolerance of at least one, so the next leader kill leaves a quorum.
func (t *quorumTopology) waitTolerant(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		for _, s := range t.q.Servers {
			if !s.Running() {
				continue
			}
			h, err := s.Client().Operator().AutopilotServerHealth(nil)
			if err == nil && h.Healthy && h.FailureTolerance >= 1 {
				return true
			}
		}
		supervisor.Sleep(ctx, 200*time.Millisecond)
	}
	return false
}

// DurableThroughputQuorum is DurableThroughputCallers on the quorum
// topology: two `granary node` processes, each on its own client agent of
// three Consul servers.
func DurableThroughputQuorum(b *testing.B, callers int) {
	t := startQuorumTopology(b, 2)
	n1 := plainNode(b, t.agents[0].HTTPAddr(), "b1", callers)
	n2 := plainNode(b, t.agents[1].HTTPAddr(), "b2", callers)
	runDurable(b, callers, [2]durableNode{n1, n2}, t.pids()...)
}

// ConsulKVWritesQuorum is the raw baseline of DurableThroughputQuorum:
// single-key KV puts through a client agent of three Consul servers, as
// a member would make them.
func ConsulKVWritesQuorum(b *testing.B, writers int) {
	t := startQuorumTopology(b, 1)
	kvPuts(b, writers, t.agents[0].Client().KV(), t.pids()...)
}

// KillFailoverTopologies is KillFailover for Granary alone, on both
// topologies in the same run: three `granary node` processes on one
// disk-backed Consul server, then three on three servers with an agent
// each. b.N is ignored: metrics are "single-p50-s", "quorum-worst-s", ...
func KillFailoverTopologies(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	agent := testconsul.Start(b, testconsul.Options{Mode: testconsul.Server})
	single := startGranaryMembersOn(b, "failover", slices.Repeat([]string{agent.HTTPAddr()}, 3), traceLogLevel...)
	st, err := failoverRuns(ctx, asMembers(single), FailoverRuns, failoverOpts{probe: &consulProbe{agent.Client(), "failover"}, logf: b.Logf})
	if err != nil {
		b.Fatalf("single server: %v", err)
	}
	st.report(b, "single-")
	for _, m := range single {
		m.kill()
	}
	agent.Stop()

	t := startQuorumTopology(b, 3)
	quorum := startGranaryMembersOn(b, "failover", t.addrs(), traceLogLevel...)
	if st, err = failoverRuns(ctx, asMembers(quorum), FailoverRuns, failoverOpts{probe: &consulProbe{t.q.Servers[0].Client(), "failover"}, logf: b.Logf}); err != nil {
		b.Fatalf("quorum: %v", err)
	}
	st.report(b, "quorum-")
}
