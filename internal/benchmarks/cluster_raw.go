package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// RawPair is the baseline of GranaryPair: two members of a raw
// protoactor-go cluster in this process, each with gRPC remoting on
// loopback, found through protoactor's in-memory test provider, with
// disthash identity lookup and a virtual actor kind "echo". Calls are
// cluster.Request from the first member to identities the second owns.
type RawPair struct {
	members [2]*cluster.Cluster
	ids     []string
}

// StartRawPair starts the pair and activates its identities. It takes
// about two seconds: protoactor's StartMember sleeps one second.
func StartRawPair(ctx context.Context) (*RawPair, error) {
	agent := test.NewInMemAgent()
	echo := actor.PropsFromFunc(func(c actor.Context) {
		if msg, ok := c.Message().(*wrapperspb.BytesValue); ok {
			c.Respond(msg)
		}
	})
	quiet := slog.New(slog.DiscardHandler) // as on our side: logging is not measured
	p := &RawPair{}
	for i := range p.members {
		sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
		cfg := cluster.Configure("bench", test.NewTestProvider(agent), disthash.New(),
			remote.Configure("127.0.0.1", 0), cluster.WithKinds(cluster.NewKind("echo", echo)))
		p.members[i] = cluster.New(sys, cfg)
		p.members[i].StartMember()
	}
	if err := p.waitTopology(ctx); err != nil {
		p.Close()
		return nil, err
	}
	rdv := cluster.NewRendezvous()
	rdv.UpdateMembers(p.members[0].MemberList.Members().Members())
	owner := p.members[1].ActorSystem.Address()
	for i := 0; len(p.ids) < CallIdentities; i++ {
		id := fmt.Sprintf("echo-%d", i)
		if rdv.GetByClusterIdentity(cluster.NewClusterIdentity(id, "echo")) == owner {
			p.ids = append(p.ids, id)
		}
	}
	for i, id := range p.ids { // activate and fill the PID cache outside the measurement
		err := p.Call(ctx, i)
		if pid, _ := p.members[0].PidCache.Get(id, "echo"); err == nil && pid.GetAddress() != owner {
			err = fmt.Errorf("%s activated on %s, not on %s", id, pid.GetAddress(), owner)
		}
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("raw protoactor pair warm-up: %w", err)
		}
	}
	return p, nil
}

// waitTopology waits until both members see both.
func (p *RawPair) waitTopology(ctx context.Context) error {
	for {
		if p.members[0].MemberList.Length() == 2 && p.members[1].MemberList.Length() == 2 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("raw protoactor pair: members did not see each other: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Call implements Caller. cluster.Request takes no context; its own
// default time-out (5s) bounds it.
func (p *RawPair) Call(_ context.Context, i int) error {
	resp, err := p.members[0].Request(p.ids[i%len(p.ids)], "echo", &wrapperspb.BytesValue{Value: echoPayload})
	if err != nil {
		return err
	}
	if v, ok := resp.(*wrapperspb.BytesValue); !ok || !bytes.Equal(v.GetValue(), echoPayload) {
		return fmt.Errorf("unexpected answer %T %v", resp, resp)
	}
	return nil
}

// Close shuts both members down without protoactor's graceful path, which
// sleeps two seconds.
func (p *RawPair) Close() {
	for _, c := range p.members {
		if c != nil {
			c.Shutdown(false)
		}
	}
}
