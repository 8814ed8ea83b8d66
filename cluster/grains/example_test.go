package grains_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/grains"
)

type greeter struct{ calls int }

func (g *greeter) Receive(ctx actors.GrainContext, name string) (string, error) {
	g.calls++ // an activation's own state: one message at a time, no lock
	return fmt.Sprintf("hello %s, from %s (call %d)", name, ctx.Identity(), g.calls), nil
}

// One member hosting a grain kind: the first call activates the identity,
// the next finds the same activation.
func Example() {
	reg := actors.NewRegistry()
	kind, err := actors.GrainOf("greeter", func() actors.TypedGrain[string, string] { return &greeter{} })
	if err != nil {
		panic(err)
	}
	if err := reg.RegisterGrain(kind); err != nil {
		panic(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	defer sys.Shutdown()

	cfg := grains.DefaultConfig("n1")
	cfg.Registry, cfg.System, cfg.Directory, cfg.Logger = reg, sys, &grains.LocalDirectory{}, quiet
	host, err := grains.New(cfg)
	if err != nil {
		panic(err)
	}
	if err := host.Start(); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer host.Stop(ctx)
	// In a cluster, membership sets the view on every change.
	host.SetView([]grains.Member{{ID: "n1", Addr: sys.Address(), Kinds: host.HostedKinds()}})

	for _, name := range []string{`"ada"`, `"grace"`} {
		resp, err := host.Call(ctx, "greeter", "alice", []byte(name))
		if err != nil {
			panic(err)
		}
		fmt.Println(string(resp.GetPayload()))
	}
	// Output:
	// "hello ada, from alice (call 1)"
	// "hello grace, from alice (call 2)"
}
