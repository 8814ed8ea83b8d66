package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testnode"
)

// granaryMember is a `granary node` process with default settings.
type granaryMember struct {
	node *testnode.Node
	c    *client.Client // one client, so calls reuse its connections
}

// startGranaryMembers starts n nodes of cluster and waits until each sees
// all of them.
func startGranaryMembers(b *testing.B, consulAddr, cluster string, n int) []*granaryMember {
	b.Helper()
	return startGranaryMembersOn(b, cluster, slices.Repeat([]string{consulAddr}, n))
}

// startGranaryMembersOn starts a node of cluster per Consul address (the
// agent on its host) and waits until each sees all of them. The nodes log
// warnings and errors only, unless extra (more `granary node` flags, last
// wins) says otherwise.
func startGranaryMembersOn(b *testing.B, cluster string, consulAddrs []string, extra ...string) []*granaryMember {
	b.Helper()
	n := len(consulAddrs)
	var out []*granaryMember
	for i, addr := range consulAddrs {
		node := testnode.ClusterNode(b, cluster, addr, fmt.Sprintf("n%d", i+1), append([]string{"--log-level", "warn"}, extra...)...)
		c, err := client.New(client.Config{Addr: node.HTTP, OnRetry: noteRetry})
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, &granaryMember{node: node, c: c})
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := waitSeen(ctx, asMembers(out), n); err != nil {
		b.Fatal(err)
	}
	return out
}

func (m *granaryMember) name() string { return m.node.ID }

func (m *granaryMember) whoami(ctx context.Context, identity string) (string, error) {
	r, err := m.c.CallRaw(ctx, "whoami", identity, nil)
	if err != nil {
		return "", err
	}
	var w struct {
		Member string `json:"member"`
	}
	if err := json.Unmarshal(r.Result, &w); err != nil {
		return "", err
	}
	return w.Member, nil
}

func (m *granaryMember) members(ctx context.Context) (int, error) {
	ms, err := m.c.Members(ctx)
	return len(ms), err
}

func (m *granaryMember) kill()  { m.node.Kill() }
func (m *granaryMember) start() { m.node.Start() }

// asMembers converts a slice of one member type for the generic harness.
func asMembers[M clusterMember](ms []M) []clusterMember {
	out := make([]clusterMember, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}
