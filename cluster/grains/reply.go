package grains

import (
	"context"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// reply is where one try of a grain call is answered: a process in the
// actor system's registry, as protoactor's futures are, that keeps the
// first answer it gets and drops any later one. Two things can answer a
// try: the owner (its response, or a dead letter) and a view change that
// drops the owner (memberLeft). protoactor's Future stores each answer
// without a lock, so when both came at once the waiter could read the
// memberLeft written after the response it was woken for, take a
// processed call for one that never reached the grain, and send it again.
// Here the first answer wins, under a lock, and is the one the waiter gets.
type reply struct {
	mu     sync.Mutex
	done   bool
	answer chan any // buffered: one answer, taken by the waiter
	sys    *actor.ActorSystem
	pid    *actor.PID
}

// newReply registers a reply process and returns it; the waiter calls
// wait, which unregisters it.
func newReply(sys *actor.ActorSystem) *reply {
	r := &reply{answer: make(chan any, 1), sys: sys}
	r.pid, _ = sys.ProcessRegistry.Add(r, "grain-reply"+sys.ProcessRegistry.NextId())
	return r
}

// deliver keeps msg if it is the first answer.
func (r *reply) deliver(msg any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	r.answer <- msg
}

// wait returns the first answer, or ctx's error when ctx ends first. It
// unregisters the process: an answer arriving later is a dead letter.
func (r *reply) wait(ctx context.Context) (any, error) {
	defer r.sys.ProcessRegistry.Remove(r.pid)
	select {
	case v := <-r.answer:
		return v, nil
	case <-ctx.Done():
		r.deliver(nil) // closes the door on later answers
		select {
		case v := <-r.answer:
			if v != nil { // an answer won the race with ctx
				return v, nil
			}
		default:
		}
		return nil, ctx.Err()
	}
}

// SendUserMessage implements actor.Process: the owner's answer.
func (r *reply) SendUserMessage(_ *actor.PID, message any) {
	_, msg, _ := actor.UnwrapEnvelope(message)
	r.deliver(msg)
}

// SendSystemMessage implements actor.Process: a system message (a stop)
// ends the wait as protoactor's futures do, with the message as answer.
func (r *reply) SendSystemMessage(_ *actor.PID, message any) { r.deliver(message) }

// Stop implements actor.Process.
func (r *reply) Stop(_ *actor.PID) { r.deliver(&actor.Stop{}) }
