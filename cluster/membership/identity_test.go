package membership

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
)

func TestJudgeDuplicate(t *testing.T) {
	entry := func(id, instance, status string) *api.ServiceEntry {
		return &api.ServiceEntry{
			Node:    &api.Node{Node: "agent-1"},
			Service: &api.AgentService{ID: id, Address: "127.0.0.1", Port: 7000, Meta: map[string]string{metaInstance: instance}},
			Checks:  api.HealthChecks{{CheckID: "lease:" + id, Status: status}},
		}
	}
	agentCheck := func(node, status string) *api.AgentCheck {
		return &api.AgentCheck{Node: node, CheckID: "lease:n1", ServiceID: "n1", Status: status}
	}
	alive := func(nodes ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range nodes {
			m[n] = true
		}
		return m
	}
	t0 := time.Unix(1000, 0)
	wait := 4 * time.Second
	for _, tc := range []struct {
		name      string
		entries   []*api.ServiceEntry
		local     *api.AgentCheck // the lease as this node's agent holds it
		firstSeen time.Time
		now       time.Time
		want      duplicateVerdict
		gossip    map[string]bool // in our agent's gossip pool (nil: unknown)
	}{
		{"nobody", nil, nil, time.Time{}, t0, unique, nil},
		{"another id", []*api.ServiceEntry{entry("n2", "x", api.HealthPassing)}, nil, time.Time{}, t0, unique, nil},
		{"our own registration", []*api.ServiceEntry{entry("n1", "me", api.HealthPassing)}, nil, time.Time{}, t0, unique, nil},
		{"a lapsed lease (a run killed)", []*api.ServiceEntry{entry("n1", "old", api.HealthCritical)}, nil, time.Time{}, t0, unique, nil},
		{"a live lease, first seen", []*api.ServiceEntry{entry("n1", "other", api.HealthPassing)}, nil, time.Time{}, t0, lapsing, nil},
		{"a live lease, within the wait", []*api.ServiceEntry{entry("n1", "other", api.HealthPassing)}, nil, t0, t0.Add(wait - time.Millisecond), lapsing, nil},
		{"a live lease after the wait", []*api.ServiceEntry{entry("n1", "other", api.HealthPassing)}, nil, t0, t0.Add(wait), duplicateOf, nil},
		// Issue #22: the catalog still lists a killed run's lease passing
		// (its agent's sync of the change failed); the agent that runs the
		// TTL timer has it critical: lapsed, a restart may take its place.
		{"lapsed at our agent, the catalog lags", []*api.ServiceEntry{entry("n1", "old", api.HealthPassing)}, agentCheck("agent-1", api.HealthCritical), t0, t0.Add(wait), unique, nil},
		{"passing at our agent: a live process there", []*api.ServiceEntry{entry("n1", "old", api.HealthPassing)}, agentCheck("agent-1", api.HealthPassing), t0, t0.Add(wait), duplicateOf, nil},
		{"critical at our agent, but registered on another", []*api.ServiceEntry{entry("n1", "old", api.HealthPassing)}, agentCheck("agent-2", api.HealthCritical), t0, t0.Add(wait), duplicateOf, nil},
		// Issue #22: a snapshot restored into a fresh quorum lists the old
		// agents' nodes with passing checks; a node that our agent's gossip
		// pool does not list for half the wait is a dead predecessor's.
		{"restored: node gone from gossip, first seen", []*api.ServiceEntry{entry("n1", "old", api.HealthPassing)}, nil, time.Time{}, t0, lapsing, alive("agent-9")},
		{"restored: node gone from gossip, within half the wait", []*api.ServiceEntry{entry("n1", "old", api.HealthPassing)}, nil, t0, t0.Add(wait/2 - time.Millisecond), lapsing, alive("agent-9")},
		{"restored: node gone from gossip after half the wait", []*api.ServiceEntry{entry("n1", "old", api.HealthPassing)}, nil, t0, t0.Add(wait / 2), unique, alive("agent-9")},
		{"node in the gossip pool: a live process", []*api.ServiceEntry{entry("n1", "old", api.HealthPassing)}, nil, t0, t0.Add(wait), duplicateOf, alive("agent-1")},
		{"gossip unknown", []*api.ServiceEntry{entry("n1", "old", api.HealthPassing)}, nil, t0, t0.Add(wait), duplicateOf, nil},
	} {
		got, _ := judgeDuplicate(tc.entries, tc.local, tc.gossip, "n1", "me", "lease:n1", tc.firstSeen, tc.now, wait)
		if got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestPoolNodes: a node that left the gossip pool is gone; one that failed
// is not (a partitioned agent comes back with its registrations).
func TestPoolNodes(t *testing.T) {
	got := poolNodes([]*api.AgentMember{{Name: "up", Status: 1}, {Name: "failed", Status: 4}, {Name: "left", Status: 3}})
	if !got["up"] || !got["failed"] || got["left"] || len(got) != 2 {
		t.Fatalf("poolNodes: %v, want up and failed", got)
	}
}

// TestDuplicateNodeIDRefused: a second process joining under a live
// member's node id is refused (it would take over the registration and the
// two would fence each other), and the first member is left alone; a node
// that comes back under the id of a run that died without leaving joins
// once that run's lease lapses.
func TestDuplicateNodeIDRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs a Consul agent")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	first := joinNode(t, agent, "n1", nodeOptions{})

	second := testConfig(t, "n1", agent.HTTPAddr(), startHealth(t).addr)
	began := time.Now()
	m, err := Join(testutil.Context(t, joinTimeout), second)
	if err == nil {
		_ = m.Leave(context.Background())
		t.Fatal("a second member joined under a live member's node id")
	}
	if !errors.Is(err, ErrDuplicateNode) || !strings.Contains(err.Error(), "--node-id") {
		t.Fatalf("second join: %v, want ErrDuplicateNode saying to pick another --node-id", err)
	}
	t.Logf("refused after %v: %v", time.Since(began).Round(time.Millisecond), err)
	if first.m.Fenced() {
		t.Fatal("the first member was fenced by the refused one")
	}
	if ok, why := seesExactly(first, "n1"); !ok {
		t.Fatal(why)
	}

	// A run that dies without leaving: its goroutines stop, its
	// registration stays with a passing lease until the TTL runs out.
	crashed := testConfig(t, "n2", agent.HTTPAddr(), startHealth(t).addr)
	m, err = Join(testutil.Context(t, joinTimeout), crashed)
	if err != nil {
		t.Fatal(err)
	}
	m.cancel()
	m.wg.Wait()
	again := testConfig(t, "n2", agent.HTTPAddr(), startHealth(t).addr)
	m, err = Join(testutil.Context(t, joinTimeout), again)
	if err != nil {
		t.Fatalf("rejoin under the id of a run that died: %v", err)
	}
	_ = m.Leave(context.Background())
}

// TestConsulACLs: against Consul with ACLs denying by default, a node
// without a token fails to join at once with ErrNotAllowed (not an
// endless retry), and one whose token carries the README's minimal policy
// joins.
func TestConsulACLs(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs a Consul agent")
	}
	agent := testconsul.Start(t, testconsul.Options{ACLToken: "root-token-for-tests"})
	h := startHealth(t)
	cfg := testConfig(t, "n1", agent.HTTPAddr(), h.addr)
	began := time.Now()
	if m, err := Join(testutil.Context(t, joinTimeout), cfg); !errors.Is(err, ErrNotAllowed) {
		if m != nil {
			_ = m.Leave(context.Background())
		}
		t.Fatalf("join without a token: %v, want ErrNotAllowed", err)
	} else if time.Since(began) > 10*time.Second {
		t.Fatalf("join without a token took %v to fail", time.Since(began))
	}

	acl := agent.Client().ACL()
	policy, _, err := acl.PolicyCreate(&api.ACLPolicy{Name: "granary-node", Rules: NodePolicy(cfg.Cluster)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := acl.TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: policy.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Consul.Token = tok.SecretID
	m, err := Join(testutil.Context(t, joinTimeout), cfg)
	if err != nil {
		t.Fatalf("join with the minimal policy: %v", err)
	}
	defer func() { _ = m.Leave(context.Background()) }()
	if m.Fenced() || m.Session() == "" {
		t.Fatal("joined but fenced or without a session")
	}

	// The policy is scoped to its cluster: with it, a member cannot join,
	// register in, or write the keys of another cluster on this Consul.
	other := testConfig(t, "n2", agent.HTTPAddr(), h.addr)
	other.Cluster = "other-" + cfg.Cluster[:min(len(cfg.Cluster), 40)]
	other.Consul.Token = tok.SecretID
	if m2, err := Join(testutil.Context(t, joinTimeout), other); !errors.Is(err, ErrNotAllowed) {
		if m2 != nil {
			_ = m2.Leave(context.Background())
		}
		t.Fatalf("join of cluster %s with cluster %s's policy: %v, want ErrNotAllowed", other.Cluster, cfg.Cluster, err)
	}
	cc := *cfg.Consul
	client, err := api.NewClient(&cc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.KV().Put(&api.KVPair{Key: memberKeyPrefix(other.Cluster) + "impostor", Value: []byte("{}")}, nil); !isForbidden(err) {
		t.Errorf("writing cluster %s's member key with cluster %s's policy: %v, want 403", other.Cluster, cfg.Cluster, err)
	}
	if err := client.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "impostor", Name: servicePrefix + other.Cluster, Port: 1}); !isForbidden(err) {
		t.Errorf("registering in cluster %s with cluster %s's policy: %v, want 403", other.Cluster, cfg.Cluster, err)
	}
	if _, err := client.KV().Put(&api.KVPair{Key: "granary/" + cfg.Cluster + "/tasks/x", Value: []byte("{}")}, nil); err != nil {
		t.Errorf("the control: writing its own cluster's key: %v", err)
	}
}

// TestRestoredRegistrationOfGoneAgent is issue #22's restore into a fresh
// quorum: the catalog restored from a snapshot lists the old agents' nodes
// with the members' leases passing, though no agent of the fresh cluster
// runs them. A member restarted under its old id recognises that
// registration as its dead predecessor's (its Consul node is not in the
// gossip pool) and joins, where it used to refuse its id as taken until
// Consul reaped the node; a registration on a node in the gossip pool is
// still refused (TestDuplicateNodeIDRefused).
func TestRestoredRegistrationOfGoneAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs a Consul agent")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	cfg := testConfig(t, "n1", agent.HTTPAddr(), startHealth(t).addr)
	prefix := "granary:" + cfg.Cluster + ":n1:"
	// What the restore leaves: a node of the old cluster, as its agent
	// last synced it. (No serfHealth check, so the leader never reaps it
	// and the test does not race the reap.)
	restored := &api.CatalogRegistration{
		Node: "old-cluster-agent", Address: "127.0.0.9",
		Service: &api.AgentService{ID: "n1", Service: servicePrefix + cfg.Cluster, Address: "127.0.0.9", Port: 7001,
			Meta: map[string]string{metaHTTPAddr: "127.0.0.9:8080", metaKinds: "whoami", metaInstance: "before-the-backup"}},
		Checks: api.HealthChecks{
			{Node: "old-cluster-agent", CheckID: prefix + "lease", Name: "lease", ServiceID: "n1", Status: api.HealthPassing},
			{Node: "old-cluster-agent", CheckID: prefix + "health", Name: "health", ServiceID: "n1", Status: api.HealthPassing},
		},
	}
	if _, err := agent.Client().Catalog().Register(restored, nil); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	m, err := Join(testutil.Context(t, joinTimeout), cfg)
	if err != nil {
		t.Fatalf("join under the id of a restored registration on a gone agent: %v", err)
	}
	defer func() { _ = m.Leave(context.Background()) }()
	// Half the wait for gossip to settle, then the join itself.
	if took := time.Since(began); took > cfg.TTL+10*time.Second {
		t.Errorf("joined after %v, want about TTL/2 %v", took, cfg.TTL)
	}
	t.Logf("joined in %v beside the restored registration", time.Since(began).Round(time.Millisecond))
}
