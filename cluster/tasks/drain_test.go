package tasks

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/supervisor/backoff"
)

// TestSettleTouchOfAnActorThatStops: a Touch queued behind the message
// during which an actor stops itself is dropped unanswered (protoactor
// discards the mailbox of a stopped actor). settle must see the actor gone
// and go on, not wait for the drain's deadline: a drained member waited 13 s
// for a task actor that had committed its task and stopped (CI,
// TestSigtermDrainsClusterMember: exit 17 s after SIGTERM for 4 s attempts).
func TestSettleTouchOfAnActorThatStops(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	release := make(chan struct{})
	entered := make(chan struct{})
	posted := make(touchPosted)
	pid := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(string); ok {
			close(entered)
			<-release
			c.Stop(c.Self()) // a system message: handled before the queued Touch
		}
	}, actor.WithMailbox(actor.Unbounded(posted))))
	sys.Root.Send(pid, "finish")
	<-entered
	m := &Manager{system: sys}
	done := make(chan error, 1)
	deadline := time.Now().Add(10 * time.Second)
	go func() { done <- m.touch(pid, deadline) }()
	<-posted // the Touch is queued before the actor stops itself
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("touch of an actor that stopped: %v; want nil", err)
		}
		if left := time.Until(deadline); left < 8*time.Second {
			t.Fatalf("touch returned %s before its deadline; want well before it (the actor was gone)", left)
		}
	case <-time.After(9 * time.Second):
		t.Fatal("touch of an actor that stopped waited for its deadline")
	}
}

// touchPosted tells when a Touch is posted to the mailbox it watches.
type touchPosted chan struct{}

func (p touchPosted) MailboxStarted()     {}
func (p touchPosted) MessageReceived(any) {}
func (p touchPosted) MailboxEmpty()       {}
func (p touchPosted) MessagePosted(message any) {
	if env, ok := message.(*actor.MessageEnvelope); ok {
		message = env.Message
	}
	if _, ok := message.(*actor.Touch); ok {
		close(p)
	}
}

// TestStopCutsJobWorkAtTheDrainsDeadline: job supervision work still in
// flight when the drain's deadline passes (here one that would wait for
// an hour: a terminate waiting out a long shutdown, a store call bounded by
// three store time-outs) is cut off, and Stop returns. The long campaign's
// graceful stop of a member timed out this way: its log went silent after
// SIGTERM, and it was killed 15 s later (seed 1796618177849118318).
func TestStopCutsJobWorkAtTheDrainsDeadline(t *testing.T) {
	m := startIdleManager(t, nil)
	started, cut := make(chan struct{}), make(chan struct{})
	m.jobWorkFor(time.Hour, func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		close(cut)
	})
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- m.Stop(ctx) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop waited past its deadline for job work in flight")
	}
	select {
	case <-cut:
	default:
		t.Fatal("Stop returned, but the job work in flight was not told to stop")
	}
}

// TestStopWaitsForJobWorkWithinTheDrain: work that ends before the drain's
// deadline is waited for, not cut.
func TestStopWaitsForJobWorkWithinTheDrain(t *testing.T) {
	m := startIdleManager(t, nil)
	var finished atomic.Bool
	started := make(chan struct{})
	m.jobWork(func(ctx context.Context) {
		close(started)
		if backoff.Sleep(ctx, 200*time.Millisecond) {
			finished.Store(true)
		}
	})
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Fatal("Stop returned before job work that ends within the drain, or cut it")
	}
}
