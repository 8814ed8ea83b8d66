package grains

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/messages"
)

// TestReplyFirstAnswerWins: the owner's response and a view change's
// memberLeft may answer one try at the same moment; the waiter gets the
// first, never a later one written over it (protoactor's Future stores
// answers without a lock: under -race this test fails with it, and a
// waiter could take a processed call for one that never ran).
func TestReplyFirstAnswerWins(t *testing.T) {
	sys := actor.NewActorSystem()
	resp := &messages.GrainResponse{}
	// In order: the response came first; the view change after it does
	// not replace it.
	r := newReply(sys)
	r.SendUserMessage(r.pid, resp)
	r.deliver(&memberLeft{member: "m"})
	if got, err := r.wait(context.Background()); err != nil || got != resp {
		t.Fatalf("waiter got %v (%v); want the response that came first", got, err)
	}
	if _, ok := sys.ProcessRegistry.Get(r.pid); ok {
		t.Fatal("the reply is still registered after the wait")
	}
	// At once, from two goroutines (run with -race): one answer, whole.
	for i := range 200 {
		r := newReply(sys)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); r.SendUserMessage(r.pid, resp) }()
		go func() { defer wg.Done(); r.deliver(&memberLeft{member: "m"}) }()
		got, err := r.wait(context.Background())
		wg.Wait()
		if _, left := got.(*memberLeft); err != nil || (got != resp && !left) {
			t.Fatalf("round %d: waiter got %v (%v); want one of the two answers", i, got, err)
		}
	}
}

// TestReplyDeadline: a try whose context ends gets ctx's error, and an
// answer arriving after it is dropped without blocking anyone.
func TestReplyDeadline(t *testing.T) {
	sys := actor.NewActorSystem()
	r := newReply(sys)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if v, err := r.wait(ctx); !errors.Is(err, context.DeadlineExceeded) || v != nil {
		t.Fatalf("wait past the deadline = %v, %v; want DeadlineExceeded", v, err)
	}
	done := make(chan struct{})
	go func() { r.SendUserMessage(r.pid, &messages.GrainResponse{}); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a late answer blocked")
	}
}

type respond struct{}

func (respond) Receive(c actor.Context) {
	if _, ok := c.Message().(*messages.GrainRequest); ok {
		c.Respond(&messages.GrainResponse{Payload: []byte("ok")})
	}
}

// TestReplyThroughTheActorSystem: an actor answering the sender of a
// request reaches the reply, as a remote router's response does.
func TestReplyThroughTheActorSystem(t *testing.T) {
	sys := actor.NewActorSystem()
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return respond{} }))
	r := newReply(sys)
	sys.Root.RequestWithCustomSender(pid, &messages.GrainRequest{}, r.pid)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := r.wait(ctx)
	if resp, ok := v.(*messages.GrainResponse); err != nil || !ok || string(resp.Payload) != "ok" {
		t.Fatalf("reply = %v, %v; want the actor's response", v, err)
	}
	// A request to an actor that is gone answers with a dead letter.
	sys.Root.StopFuture(pid).Wait()
	r = newReply(sys)
	sys.Root.RequestWithCustomSender(pid, &messages.GrainRequest{}, r.pid)
	if v, err := r.wait(ctx); err != nil {
		t.Fatalf("reply from a stopped actor: %v", err)
	} else if _, ok := v.(*actor.DeadLetterResponse); !ok {
		t.Fatalf("reply from a stopped actor = %T; want a dead letter", v)
	}
}
