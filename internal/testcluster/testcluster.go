// Package testcluster runs the members of a Granary cluster in the test's
// own process, each a node.New with its own actor system and loopback
// ports, against a real Consul agent: for tests that need several members
// but not process isolation. Tests that kill a member with SIGKILL or
// pause it use real processes (internal/testnode) instead.
package testcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
)

// Cluster is the name of the cluster the members join.
const Cluster = "it"

var (
	shared     sync.Once
	sharedSys  *actor.ActorSystem
	clusterSeq atomic.Int64
)

// System is the actor system, with gRPC remoting on 127.0.0.1, that every
// in-process member of this test binary runs on (node.Config.System). One
// for the whole process, never shut down: protoactor sets gRPC's
// process-wide logger whenever a remote starts, which races with the gRPC
// connections of remotes already running, so a process starts one. Each
// member's actors carry its id in their names, so members share it; their
// messages to each other are then delivered without serialising, which
// the process-based tests (internal/testnode) still exercise.
func System() *actor.ActorSystem {
	shared.Do(func() {
		sharedSys = tasks.NewActorSystem(slog.New(slog.DiscardHandler))
		remote.NewRemote(sharedSys, remote.Configure("127.0.0.1", 0)).Start()
	})
	return sharedSys
}

// Start starts n members of cluster Cluster with Consul at consulAddr,
// hosting reg's kinds, and waits until each sees all of them. Their ids
// are cK-n1 … cK-nN, K counting the clusters of this process, so members
// of one test never meet the actors of another's on the shared System.
// edit, if not nil, adjusts member i's configuration (0-based) before it
// starts. The members stop when the test ends.
func Start(t testing.TB, consulAddr string, reg *actors.Registry, n int, edit func(i int, cfg *node.Config)) []*node.Node {
	t.Helper()
	nodes := make([]*node.Node, n)
	seq := clusterSeq.Add(1)
	for i := range nodes {
		cfg := Config(t, consulAddr, reg, fmt.Sprintf("c%d-n%d", seq, i+1))
		if edit != nil {
			edit(i, &cfg)
		}
		nodes[i] = StartNode(t, cfg)
	}
	WaitMembers(t, nodes, n)
	return nodes
}

// Config is a member's configuration on the shared System, with Consul at
// consulAddr, an HTTP API on a free loopback port, logs to the test.
func Config(t testing.TB, consulAddr string, reg *actors.Registry, id string) node.Config {
	cfg := node.DefaultConfig()
	cfg.Registry, cfg.NodeID, cfg.Cluster = reg, id, Cluster
	cfg.Consul, cfg.System = node.ConsulConfig(consulAddr), System()
	cfg.HTTPAddr = "127.0.0.1:0"
	// 5s: tests stop members whose attempts sleep for minutes.
	cfg.DrainTimeout = 5 * time.Second
	cfg.Logger = testutil.Logger(t, slog.LevelInfo)
	return cfg
}

// StartNode starts one node with cfg and stops it when the test ends.
func StartNode(t testing.TB, cfg node.Config) *node.Node {
	t.Helper()
	nd, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := nd.Start(testutil.Context(t, time.Minute)); err != nil {
		t.Fatalf("testcluster: starting %s: %v", nd.ID(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = nd.Stop(ctx)
	})
	return nd
}

// WaitMembers waits until each of nodes lists want members.
func WaitMembers(t testing.TB, nodes []*node.Node, want int) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		for _, nd := range nodes {
			ms, err := nd.Client().Members(context.Background())
			if err != nil || len(ms) != want {
				return false, fmt.Sprintf("%s sees %d members (%v), want %d", nd.ID(), len(ms), err, want)
			}
		}
		return true, ""
	})
}

// WaitAll waits for every task of ids to finish, 64 at a time, and
// returns their final statuses; it fails the test if any did not finish
// before ctx ended.
func WaitAll(t testing.TB, ctx context.Context, c *client.Client, ids []string) map[string]*api.Status {
	t.Helper()
	var mu sync.Mutex
	out := map[string]*api.Status{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			st, err := c.Wait(ctx, id, nil)
			if err != nil {
				t.Errorf("waiting for %s: %v", id, err)
				return
			}
			mu.Lock()
			out[id] = st
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(out) != len(ids) {
		t.Fatalf("%d of %d tasks did not finish in time", len(ids)-len(out), len(ids))
	}
	return out
}

// Completed submits n `sleep` tasks of 1 ms through c, ids prefix-00,
// prefix-01, ..., each waited for, and returns their ids; it fails the
// test unless each completed.
func Completed(t testing.TB, ctx context.Context, c *client.Client, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := range n {
		req := api.SubmitRequest{ID: fmt.Sprintf("%s-%02d", prefix, i), Kind: "sleep", Payload: json.RawMessage(`{"ms":1}`)}
		st, err := c.SubmitAndWait(ctx, req, nil)
		if err != nil || st.State != api.StateCompleted {
			t.Fatalf("task %s: %+v %v", req.ID, st, err)
		}
		ids = append(ids, st.ID)
	}
	return ids
}
