package kinds

import (
	"fmt"
	"time"

	"github.com/granary-rt/granary/actors"
)

// CounterReq is a request to the counter grain: {"op":"add","n":1} or {"op":"get"}.
type CounterReq struct {
	Op string `json:"op"`
	N  int64  `json:"n,omitempty"`
}

// CounterResp is the counter's answer, with where it was computed.
type CounterResp struct {
	Value      int64  `json:"value"`
	Member     string `json:"member"`
	Activation string `json:"activation"`
}

// counterState is the counter's durable state.
type counterState struct {
	Value int64 `json:"value"`
}

// counter keeps one number per identity, durably: the runtime stores the
// state it returns before the reply leaves, so a count a caller saw
// survives deactivation and the loss of the member (the next activation,
// anywhere, loads it).
type counter struct{}

func (counter) Receive(ctx actors.GrainContext, st counterState, req CounterReq) (counterState, CounterResp, error) {
	switch req.Op {
	case "add":
		st.Value += req.N
	case "get":
	default:
		return st, CounterResp{}, fmt.Errorf("counter: unknown op %q (add or get)", req.Op)
	}
	return st, CounterResp{Value: st.Value, Member: ctx.MemberID(), Activation: ctx.ActivationID()}, nil
}

// Counter is the stock stateful grain: a durable number per identity.
var Counter = mustGrain(actors.GrainWithState("counter", func() actors.StatefulGrain[CounterReq, CounterResp, counterState] { return counter{} },
	actors.GrainExample(`{"op":"add","n":1}`)))

// WhoAmIResp says which member and activation answered.
type WhoAmIResp struct {
	Member     string `json:"member"`
	Activation string `json:"activation"`
	Identity   string `json:"identity"`
}

type whoami struct{}

func (whoami) Receive(ctx actors.GrainContext, _ struct{}) (WhoAmIResp, error) {
	return WhoAmIResp{Member: ctx.MemberID(), Activation: ctx.ActivationID(), Identity: ctx.Identity()}, nil
}

// WhoAmI answers with the member and activation hosting the identity: the
// probe the placement and failover tests use.
var WhoAmI = mustGrain(actors.GrainOf("whoami", func() actors.TypedGrain[struct{}, WhoAmIResp] { return whoami{} }, actors.GrainExample(`{}`)))

func mustGrain(k *actors.GrainKind, err error) *actors.GrainKind {
	if err != nil {
		panic(err)
	}
	return k
}

// LeaderResp says which member holds the leader role, and since when.
type LeaderResp struct {
	Member     string    `json:"member"`
	Activation string    `json:"activation"`
	Since      time.Time `json:"since"`
}

type leader struct{ since time.Time }

func (l *leader) OnActivate(ctx actors.GrainContext) error {
	l.since = time.Now()
	ctx.Logger().Info("leader role taken", "member", ctx.MemberID())
	return nil
}

func (l *leader) Receive(ctx actors.GrainContext, _ struct{}) (LeaderResp, error) {
	return LeaderResp{Member: ctx.MemberID(), Activation: ctx.ActivationID(), Since: l.since}, nil
}

// Leader is the stock singleton: one activation in the whole cluster, held
// through a Consul session lock; members hosting it stand by and take over
// when the holder dies. It answers with the holder and when it took over.
var Leader = mustGrain(actors.GrainOf("leader", func() actors.TypedGrain[struct{}, LeaderResp] { return &leader{} }, actors.Singleton(), actors.GrainExample(`{}`)))
