package membership

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/hashicorp/consul/api"
)

// TestImpostorsAreNoMembers: on a real Consul, registrations of the
// cluster's service made through the agent API are no members, though
// Consul lists them as passing: one with no checks at all, and one that
// copies granary's check ids (TTL passing) but holds no member key. Views
// and Discover list only the nodes that joined; each node logs each
// impostor once (TestRosterWarnsOnce). A node whose remoting differs from the members' is
// refused at Join.
func TestImpostorsAreNoMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs a Consul agent")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := joinNodes(t, agent, "n1", "n2")
	c := agent.Client()
	svc := servicePrefix + testCluster
	if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "bare", Name: svc, Address: "127.0.0.1", Port: 1,
		Meta: map[string]string{metaHTTPAddr: "127.0.0.1:2", metaKinds: "whoami"}}); err != nil {
		t.Fatal(err)
	}
	copyCat := &api.AgentServiceRegistration{ID: "copycat", Name: svc, Address: "127.0.0.1", Port: 3,
		Meta: map[string]string{metaHTTPAddr: "127.0.0.1:4", metaKinds: "whoami", metaInstance: "forged"},
		Checks: api.AgentServiceChecks{
			{CheckID: "granary:" + testCluster + ":copycat:lease", TTL: "1h", Status: api.HealthPassing},
			{CheckID: "granary:" + testCluster + ":copycat:health", TTL: "1h", Status: api.HealthPassing},
		}}
	if err := c.Agent().ServiceRegister(copyCat); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		entries, _, err := c.Health().Service(svc, "", true, nil)
		return err == nil && len(entries) == 4, "Consul does not list the two impostors as passing yet"
	})
	// A later change of the view makes every node re-read both answers.
	late := joinNode(t, agent, "n3", nodeOptions{})
	want := []string{"n1", "n2", "n3"}
	for _, n := range append(nodes, late) {
		testutil.Eventually(t, 10*time.Second, func() (bool, string) {
			return slices.Equal(n.m.View().IDs(), want), "view of " + n.id + " is not " + "[n1 n2 n3]"
		})
	}
	got, err := Discover(testutil.Context(t, 10*time.Second), c, testCluster)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range got {
		ids = append(ids, m.ID)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("Discover = %v, want %v", ids, want)
	}

	// Remoting: the members are plaintext; a node with mutual TLS could
	// not talk to them.
	h := startHealth(t)
	cfg := testConfig(t, "n4", agent.HTTPAddr(), h.addr)
	cfg.Remoting = RemotingMTLS([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	if m, err := Join(testutil.Context(t, joinTimeout), cfg); !errors.Is(err, ErrRemotingMismatch) {
		if m != nil {
			_ = m.Leave(context.Background())
		}
		t.Fatalf("join with another remoting: %v, want ErrRemotingMismatch", err)
	}
}
