package tasks

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
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
