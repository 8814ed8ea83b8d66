package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/node"
)

// exampleNode starts an embedded node (what `granary dev` runs) with the
// kinds of reg on a free port, for the examples to talk to through its
// client as any other process would through client.New(client.Config{Addr:
// ...}). stop stops it and removes its data.
func exampleNode(reg *actors.Registry) (n *node.Node, stop func()) {
	dir, err := os.MkdirTemp("", "granary-example-")
	if err != nil {
		panic(err)
	}
	cfg := node.DefaultConfig()
	cfg.Registry, cfg.DataDir, cfg.HTTPAddr = reg, dir, "127.0.0.1:0"
	if n, err = node.New(cfg); err != nil {
		panic(err)
	}
	if err := n.Start(context.Background()); err != nil {
		panic(err)
	}
	return n, func() {
		_ = n.Stop(context.Background())
		_ = os.RemoveAll(dir)
	}
}

// Submit a task and wait for its result in one call.
func ExampleClient_SubmitAndWait() {
	reg := actors.NewRegistry()
	double := actors.MustTask("double", func(_ actors.TaskContext, n int) (int, error) { return 2 * n, nil })
	if err := reg.RegisterTask(double); err != nil {
		panic(err)
	}
	n, stop := exampleNode(reg)
	defer stop()
	c, err := client.New(client.Config{Addr: "http://" + n.HTTPAddr()})
	if err != nil {
		panic(err)
	}

	st, err := c.SubmitAndWait(context.Background(), api.SubmitRequest{ID: "double-21", Kind: "double", Payload: json.RawMessage(`21`)}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(st.ID, st.State, string(st.Result), "after", st.Attempts, "attempt")
	// Output: double-21 completed 42 after 1 attempt
}

// counterReq and counterState are the example grain's request and state.
type counterReq struct {
	Add int `json:"add"`
}
type counterState struct {
	Total int `json:"total"`
}

type counterGrain struct{}

func (counterGrain) Receive(_ actors.GrainContext, st counterState, req counterReq) (counterState, counterState, error) {
	st.Total += req.Add
	return st, st, nil // the state to keep, and the answer
}

// Call a typed grain with Go types: the request and the answer are
// encoded as the grain kind declares them (JSON here, protojson for proto
// messages).
func ExampleCallTyped() {
	reg := actors.NewRegistry()
	counter, err := actors.GrainWithState("counter", func() actors.StatefulGrain[counterReq, counterState, counterState] { return counterGrain{} })
	if err != nil {
		panic(err)
	}
	if err := reg.RegisterGrain(counter); err != nil {
		panic(err)
	}
	n, stop := exampleNode(reg)
	defer stop()
	c := n.Client()

	ctx := context.Background()
	for _, add := range []int{1, 2} {
		st, _, err := client.CallTyped[counterReq, counterState](ctx, c, "counter", "alice", counterReq{Add: add})
		if err != nil {
			panic(err)
		}
		fmt.Println("alice's total:", st.Total)
	}
	// Output:
	// alice's total: 1
	// alice's total: 3
}

// Watch a running task: Wait calls onChange with each new status, the
// running attempt's progress included, and returns the final one.
func ExampleClient_Wait() {
	release := make(chan struct{})
	reg := actors.NewRegistry()
	step := actors.MustTask("step", func(ctx actors.TaskContext, _ struct{}) (string, error) {
		ctx.Progress(0.5, "halfway")
		select {
		case <-release: // the watcher has seen the progress
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return "done", nil
	})
	if err := reg.RegisterTask(step); err != nil {
		panic(err)
	}
	n, stop := exampleNode(reg)
	defer stop()
	c := n.Client()

	ctx := context.Background()
	st, err := c.Submit(ctx, api.SubmitRequest{ID: "step-1", Kind: "step", Payload: json.RawMessage(`{}`)})
	if err != nil {
		panic(err)
	}
	var once sync.Once
	final, err := c.Wait(ctx, st.ID, func(s *api.Status) {
		if s.State == api.StateRunning && s.Progress >= 0.5 {
			once.Do(func() {
				fmt.Printf("%s %s %.0f%% %s\n", s.ID, s.State, s.Progress*100, s.ProgressNote)
				close(release)
			})
		}
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(final.ID, final.State, string(final.Result))
	// Output:
	// step-1 running 50% halfway
	// step-1 completed "done"
}
