// Package benchmarks holds benchmark bodies shared by the packages whose
// performance they compare, so that each comparison runs identical code.
package benchmarks

import (
	"log/slog"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/granary-rt/granary/supervisor"
)

// SupervisedRestart measures one failure→restart round trip of a child
// supervised by supervisor.NewStrategy: one-for-one, unlimited budget and the
// zero Backoff, which restarts without any delay.
func SupervisedRestart(b *testing.B) {
	strategy, err := supervisor.NewStrategy(supervisor.Spec{
		Strategy: supervisor.OneForOne,
		Budget:   supervisor.Budget{MaxRestarts: -1},
	})
	if err != nil {
		b.Fatal(err)
	}
	benchmarkRestart(b, strategy)
}

// ProtoactorOneForOneRestart measures the same round trip under
// protoactor-go's own one-for-one strategy. Its restart statistics keep every
// failure instant of the child and scan them on each failure, so its cost per
// restart grows with b.N.
func ProtoactorOneForOneRestart(b *testing.B) {
	benchmarkRestart(b, actor.NewOneForOneStrategy(math.MaxInt32, time.Second, actor.DefaultDecider))
}

// benchmarkRestart runs a parent supervising one child with strategy. Each
// iteration sends the child "fail", which makes it panic, and waits until
// the restarted incarnation has processed *actor.Started.
func benchmarkRestart(b *testing.B, strategy actor.SupervisorStrategy) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler) // logging would dominate the measurement
	}))
	defer system.Shutdown()

	var restarts atomic.Int64
	started := make(chan struct{}, 1)
	childProps := actor.PropsFromFunc(func(ctx actor.Context) {
		switch msg := ctx.Message().(type) {
		case string:
			if msg == "fail" {
				panic("fail")
			}
		case *actor.Restarting:
			restarts.Add(1)
		case *actor.Started:
			started <- struct{}{}
		}
	})
	spawned := make(chan *actor.PID, 1)
	parent := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			spawned <- ctx.Spawn(childProps)
		}
	}, actor.WithSupervisor(strategy)))
	defer func() { _ = system.Root.StopFuture(parent).Wait() }()
	child := <-spawned
	<-started

	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		system.Root.Send(child, "fail")
		<-started
	}
	b.StopTimer()
	if got := restarts.Load(); got != int64(b.N) {
		b.Fatalf("child restarted %d times, want %d", got, b.N)
	}
}
