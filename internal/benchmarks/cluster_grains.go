package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/metrics"
	"github.com/granary-rt/granary/cluster/placement"
	"github.com/granary-rt/granary/cluster/tasks"
)

// echoGrain answers every message with the message itself.
type echoGrain struct{}

func (echoGrain) Receive(_ actors.GrainContext, msg []byte) ([]byte, error) { return msg, nil }

// echoReq is echoJSON as a Go type.
type echoReq struct {
	Op  string `json:"op"`
	N   int    `json:"n"`
	Who string `json:"who"`
}

type typedEchoGrain struct{}

func (typedEchoGrain) Receive(_ actors.GrainContext, req echoReq) (echoReq, error) { return req, nil }

// typedEcho is echoGrain as a typed kind (actors.GrainOf), as the stock
// grains and most applications' are: its requests decode into echoReq
// (strict JSON) and its answers encode from it. The pair's members host
// it; the HTTP benchmark calls it.
var typedEcho = func() *actors.GrainKind {
	k, err := actors.GrainOf("typed_echo", func() actors.TypedGrain[echoReq, echoReq] { return typedEchoGrain{} })
	if err != nil {
		panic(err)
	}
	return k
}()

// GranaryPair is two grains.Host members, "a" and "b", each on its own actor
// system with gRPC remoting on loopback, as two `granary node` processes
// wire them but without Consul: they share one LocalDirectory, which is
// only touched when an identity activates. Calls go from a to identities
// that b owns.
type GranaryPair struct {
	systems [2]*actor.ActorSystem
	remotes [2]*remote.Remote
	caller  *grains.Host
	ids     []string
}

// StartGranaryPair starts the pair and activates its identities.
func StartGranaryPair(ctx context.Context) (*GranaryPair, error) {
	return startGranaryPair(ctx, [2][]remote.ConfigOption{}, false)
}

// StartGranaryPairMetrics is StartGranaryPair with each member's grain
// host instrumented (grains.Config.Metrics), as `granary node` runs by
// default.
func StartGranaryPairMetrics(ctx context.Context) (*GranaryPair, error) {
	return startGranaryPair(ctx, [2][]remote.ConfigOption{}, true)
}

// StartGranaryPairTLS is StartGranaryPair with both members' remoting on
// mutual TLS, as `granary node --cluster-ca --cluster-cert --cluster-key`
// configures it, with certificates of a fresh testpki CA (in tb's
// temporary directory, loaded before it returns).
func StartGranaryPairTLS(ctx context.Context, tb testing.TB) (*GranaryPair, error) {
	sec := newClusterSecurity(tb)
	return startGranaryPair(ctx, [2][]remote.ConfigOption{sec.remoteOptions(tb, "a"), sec.remoteOptions(tb, "b")}, false)
}

// startGranaryPair starts the pair, member i's remoting with remoteOpts[i],
// each member with metrics of its own if instrumented.
func startGranaryPair(ctx context.Context, remoteOpts [2][]remote.ConfigOption, instrumented bool) (*GranaryPair, error) {
	reg := actors.NewRegistry()
	echo, err := actors.NewGrain("echo", func() actors.Grain { return echoGrain{} })
	if err != nil {
		return nil, err
	}
	if err := reg.RegisterGrain(echo); err != nil {
		return nil, err
	}
	if err := reg.RegisterGrain(typedEcho); err != nil {
		return nil, err
	}
	p := &GranaryPair{}
	dir := &grains.LocalDirectory{}
	quiet := slog.New(slog.DiscardHandler)
	var hosts [2]*grains.Host
	var view []grains.Member
	for i, id := range []string{"a", "b"} {
		sys := tasks.NewActorSystem(quiet) // the system `granary node` runs
		p.systems[i] = sys
		p.remotes[i] = remote.NewRemote(sys, remote.Configure("127.0.0.1", 0, remoteOpts[i]...))
		p.remotes[i].Start()
		cfg := grains.DefaultConfig(id)
		cfg.Registry, cfg.System, cfg.Directory, cfg.Logger = reg, sys, dir, quiet
		if instrumented {
			cfg.Metrics = metrics.New(metrics.DefaultConfig())
		}
		h, err := grains.New(cfg)
		if err == nil {
			err = h.Start()
		}
		if err != nil {
			p.Close()
			return nil, err
		}
		hosts[i] = h
		view = append(view, grains.Member{ID: id, Addr: sys.Address(), Kinds: h.HostedKinds()})
	}
	for _, h := range hosts {
		h.SetView(view)
	}
	p.caller = hosts[0]
	members := []placement.Member{{ID: "a", Kinds: []string{"echo", "typed_echo"}}, {ID: "b", Kinds: []string{"echo", "typed_echo"}}}
	for i := 0; len(p.ids) < CallIdentities; i++ {
		id := fmt.Sprintf("echo-%d", i)
		if owner, _ := placement.Owner(members, "echo", id); owner == "b" {
			p.ids = append(p.ids, id)
		}
	}
	for i := range p.ids { // activate outside the measurement
		if err := p.Call(ctx, i); err != nil {
			p.Close()
			return nil, fmt.Errorf("granary pair warm-up: %w", err)
		}
	}
	return p, nil
}

// Call implements Caller. Like cluster.Request on the raw side, each call
// runs under its own default time-out (Config.CallTimeout): ctx's deadline,
// shared by a whole benchmark, would spare Host.Call its per-call timer.
func (p *GranaryPair) Call(ctx context.Context, i int) error {
	resp, err := p.caller.Call(context.WithoutCancel(ctx), "echo", p.ids[i%len(p.ids)], echoPayload)
	if err != nil {
		return err
	}
	if resp.GetMember() != "b" || !bytes.Equal(resp.GetPayload(), echoPayload) {
		return fmt.Errorf("unexpected answer from %s: %q", resp.GetMember(), resp.GetPayload())
	}
	return nil
}

// Close stops both members' remoting and actor systems.
func (p *GranaryPair) Close() {
	for i, r := range p.remotes {
		if r != nil {
			r.Shutdown(false)
			p.systems[i].Shutdown()
		}
	}
}
