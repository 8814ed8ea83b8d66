package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/buildinfo"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestMembersShowVersions: in the middle of a rolling upgrade, the members
// list and the cluster report say which member runs what: the binary's
// build information by default, node.Config.Version when set.
func TestMembersShowVersions(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	const upgraded = "shop v2.0.0 granary v0.9.0"
	nodes := testcluster.Start(t, agent.HTTPAddr(), appKinds(t), 2, func(i int, cfg *node.Config) {
		if i == 1 {
			cfg.Version = upgraded
		}
	})
	want := map[string]string{nodes[0].ID(): buildinfo.Current(), nodes[1].ID(): upgraded}
	ctx := testutil.Context(t, 30*time.Second)
	for _, nd := range nodes {
		ms, err := nd.Client().Members(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Version != want[m.ID] {
				t.Errorf("%s lists %s at version %q, want %q", nd.ID(), m.ID, m.Version, want[m.ID])
			}
		}
		rep, err := nd.Client().Cluster(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range rep.Members {
			if m.Version != want[m.ID] || m.Report == nil || m.Report.Version != want[m.ID] {
				t.Errorf("%s's cluster report: %s at %q (its own report: %+v), want %q", nd.ID(), m.ID, m.Version, m.Report, want[m.ID])
			}
		}
	}
}

func TestEmbeddedShowsVersion(t *testing.T) {
	n := start(t, embedded(t))
	ms, err := n.Client().Members(testutil.Context(t, 10*time.Second))
	if err != nil || len(ms) != 1 || ms[0].Version != buildinfo.Current() {
		t.Fatalf("members of an embedded node: %+v, %v; want one at %q", ms, err, buildinfo.Current())
	}
}

func TestVersionTooLong(t *testing.T) {
	cfg := embedded(t)
	cfg.Version = fmt.Sprintf("%0300d", 1)
	if _, err := node.New(cfg); err == nil {
		t.Fatal("node.New took a 300-byte Version; want ErrInvalidConfig")
	}
}
