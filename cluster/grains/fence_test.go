package grains_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/internal/testutil"
)

// pausingGrain stands for a handler during which the process paused for
// longer than its lease: when it returns, the member is fenced. The
// payload says how the handler ends after the pause.
type pausingGrain struct {
	lapse   func()
	handled *atomic.Int32 // messages whose handler ran after a pause
}

func (g pausingGrain) Receive(ctx actors.GrainContext, msg []byte) ([]byte, error) {
	var how string
	_ = json.Unmarshal(msg, &how)
	if how != "" {
		g.handled.Add(1)
		g.lapse()
	}
	switch how {
	case "pause-then-fail":
		return nil, errors.New("failed after the pause")
	case "pause-then-panic":
		panic("panicked after the pause")
	}
	return json.Marshal(ctx.ActivationID())
}

// TestReplyAfterLeaseLostIsNotSent: the member is unfenced when the
// activation starts handling a message and fenced when the handler
// returns, as after a pause between the two. Whatever the handler
// computed (an answer, an error, a panic) must not reach the caller from
// an activation whose claim may now be someone else's: the call fails as
// unavailable (retryable), the activation deactivates and releases its
// claim, and once the member is unfenced a new activation answers.
func TestReplyAfterLeaseLostIsNotSent(t *testing.T) {
	for _, how := range []string{"pause", "pause-then-fail", "pause-then-panic"} {
		t.Run(how, func(t *testing.T) {
			var fenced atomic.Bool
			var handled atomic.Int32
			h, dir := pausingHost(t, fenced.Load, pausingGrain{lapse: func() { fenced.Store(true) }, handled: &handled})

			first := activationOf(t, h, `""`)

			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			resp, err := h.Call(ctx, "pausing", "p", []byte(fmt.Sprintf("%q", how)))
			if !errors.Is(err, grains.ErrUnavailable) {
				t.Fatalf("call whose handler ended after the lease was lost: resp %v, err %v; want ErrUnavailable", resp, err)
			}
			if n := handled.Load(); n != 1 {
				t.Fatalf("the handler ran %d times after a pause, want once (the check must fall between handler and reply)", n)
			}
			testutil.Eventually(t, 5*time.Second, func() (bool, string) {
				return h.Activations() == 0, fmt.Sprintf("%d activations live after the lease was lost", h.Activations())
			})
			if holder, _ := dir.Claim(context.Background(), "pausing", "p", "other"); holder != "other" {
				t.Fatalf("the claim is still held by %s after the activation deactivated", holder)
			}
			_ = dir.Release(context.Background(), "pausing", "p", "other")

			fenced.Store(false)
			if again := activationOf(t, h, `""`); again == first {
				t.Fatalf("after unfencing, the old activation %s answered", first)
			}
		})
	}
}

// pausingHost is one member hosting the pausing grain kind, fenced as
// fenced says.
func pausingHost(t *testing.T, fenced func() bool, g pausingGrain) (*grains.Host, *grains.LocalDirectory) {
	t.Helper()
	quiet := testutil.Logger(t, slog.LevelError)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	t.Cleanup(sys.Shutdown)
	kind, err := actors.NewGrain("pausing", func() actors.Grain { return g })
	if err != nil {
		t.Fatal(err)
	}
	reg := actors.NewRegistry()
	if err := reg.RegisterGrain(kind); err != nil {
		t.Fatal(err)
	}
	dir := &grains.LocalDirectory{}
	cfg := grains.DefaultConfig("solo")
	cfg.Registry, cfg.System, cfg.Directory, cfg.Fenced = reg, sys, dir, fenced
	cfg.Logger = testutil.Logger(t, slog.LevelError)
	h, err := grains.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	h.SetView([]grains.Member{{ID: "solo", Addr: sys.Address(), Kinds: h.HostedKinds()}})
	return h, dir
}

// activationOf calls the pausing grain without a pause and returns the
// activation that answered.
func activationOf(t *testing.T, h *grains.Host, payload string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := h.Call(ctx, "pausing", "p", []byte(payload))
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	var id string
	if err := json.Unmarshal(resp.GetPayload(), &id); err != nil || id != resp.GetActivationId() {
		t.Fatalf("reply %s from activation %s: %v", resp.GetPayload(), resp.GetActivationId(), err)
	}
	return id
}

// TestReplyAfterFenceAndUnfenceIsNotSent: a handler outlasts a whole fence
// and unfence (the member fenced, got a new session, and is unfenced when
// the handler returns). The lease is valid again, but the activation's
// claim belonged to the old session: its reply must not be sent either.
func TestReplyAfterFenceAndUnfenceIsNotSent(t *testing.T) {
	var handled atomic.Int32
	var host atomic.Pointer[grains.Host]
	h, _ := pausingHost(t, func() bool { return false }, pausingGrain{lapse: func() { host.Load().Fence() }, handled: &handled})
	host.Store(h)
	first := activationOf(t, h, `""`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	resp, err := h.Call(ctx, "pausing", "p", []byte(`"pause"`))
	if err == nil && resp.GetActivationId() == first {
		t.Fatalf("the activation claimed before the fence answered after it: %v", resp)
	}
	if again := activationOf(t, h, `""`); again == first {
		t.Fatalf("the activation claimed before the fence still answers")
	}
}
