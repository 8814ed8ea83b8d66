package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestJobs: a nested tree declared through the client reads back to its
// leaves; the same declaration again is fine, another is
// api.ErrAlreadyExists; StopJob then WaitJob ends every task in it.
func TestJobs(t *testing.T) {
	c, _ := start(t)
	ctx := testutil.Context(t, 30*time.Second)
	if _, err := c.DeclareJob(ctx, "app", api.JobSpec{Strategy: "one_for_all", MaxRestarts: 1}); err != nil {
		t.Fatal(err)
	}
	if j, err := c.DeclareJob(ctx, "app", api.JobSpec{Strategy: "one_for_all", MaxRestarts: 1}); err != nil || !j.Declared {
		t.Fatalf("the same declaration again: %+v, %v", j, err)
	}
	if _, err := c.DeclareJob(ctx, "app", api.JobSpec{Strategy: "rest_for_one"}); !errors.Is(err, api.ErrAlreadyExists) || !strings.Contains(err.Error(), "strategy") {
		t.Fatalf("another declaration: %v; want ErrAlreadyExists naming the strategy", err)
	}
	if _, err := c.DeclareJob(ctx, "worker", api.JobSpec{Parent: "app", Stage: 1, Restart: api.RestartPermanent}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeclareJob(ctx, "orphan", api.JobSpec{Parent: "missing"}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("a missing parent: %v; want ErrInvalidArgument", err)
	}
	if _, err := c.Submit(ctx, api.SubmitRequest{ID: "w1", Kind: "sleep", Payload: json.RawMessage(`{"ms":60000}`), JobID: "worker", Restart: api.RestartTemporary}); err != nil {
		t.Fatal(err)
	}
	tree, err := c.JobTree(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if tree.Jobs != 2 || len(tree.Root.Jobs) != 1 || tree.Root.Jobs[0].ID != "worker" || len(tree.Root.Jobs[0].Tasks) != 1 ||
		tree.Root.Jobs[0].Tasks[0].Restart != api.RestartTemporary || tree.Finished() {
		t.Fatalf("tree %+v; want app > worker > w1 (temporary), running", tree)
	}
	if _, err := c.StopJob(ctx, "app", "test over"); err != nil {
		t.Fatal(err)
	}
	final, err := c.WaitJob(ctx, "app", nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := final.Root.Jobs[0]; w.Tasks[0].State != api.StateCancelled || !strings.Contains(final.Root.Error, "test over") {
		t.Fatalf("after the stop: %+v, %+v; want w1 cancelled and app saying why", final.Root, w)
	}
	if _, err := c.JobTree(ctx, "nothing"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the tree of no job: %v; want ErrNotFound", err)
	}
}

// A supervision tree declared through the client: a root job with two
// child jobs, a task in one, the tree drawn, then the whole tree stopped.
func ExampleClient_DeclareJob() {
	reg := actors.NewRegistry()
	if err := reg.RegisterTask(actors.MustTask("serve", func(ctx actors.TaskContext, _ struct{}) (int, error) {
		<-ctx.Done() // a long-running service, until stopped
		return 0, ctx.Err()
	})); err != nil {
		panic(err)
	}
	dir, _ := os.MkdirTemp("", "granary-example-")
	defer os.RemoveAll(dir)
	cfg := node.DefaultConfig()
	cfg.Registry, cfg.DataDir, cfg.HTTPAddr = reg, dir, "127.0.0.1:0"
	n, err := node.New(cfg)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := n.Start(ctx); err != nil {
		panic(err)
	}
	defer n.Stop(ctx)
	c := n.Client()

	for _, j := range []struct {
		id   string
		spec api.JobSpec
	}{
		{"shop", api.JobSpec{Strategy: "rest_for_one", MaxRestarts: 3, RestartPeriod: api.Ptr(api.Duration(time.Minute))}},
		{"db", api.JobSpec{Parent: "shop", Stage: 0}},
		{"web", api.JobSpec{Parent: "shop", Stage: 1, Restart: api.RestartPermanent}},
	} {
		if _, err := c.DeclareJob(ctx, j.id, j.spec); err != nil {
			panic(err)
		}
	}
	if _, err := c.Submit(ctx, api.SubmitRequest{ID: "http", Kind: "serve", Payload: json.RawMessage(`{}`), JobID: "web", Restart: api.RestartPermanent}); err != nil {
		panic(err)
	}
	tree, err := c.JobTree(ctx, "shop")
	if err != nil {
		panic(err)
	}
	fmt.Println(tree.Root.ID, tree.Root.Strategy, tree.Root.MaxRestarts, "restarts in", time.Duration(*tree.Root.RestartPeriod))
	for _, child := range tree.Root.Jobs {
		fmt.Println(" ", child.ID, "stage", child.Stage, child.Restart, "tasks", len(child.Tasks))
	}

	if _, err := c.StopJob(ctx, "shop", "closing time"); err != nil {
		panic(err)
	}
	final, err := c.WaitJob(ctx, "shop", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("http:", final.Root.Jobs[1].Tasks[0].State)
	// Output:
	// shop rest_for_one 3 restarts in 1m0s
	//   db stage 0 transient tasks 0
	//   web stage 1 permanent tasks 1
	// http: cancelled
}
