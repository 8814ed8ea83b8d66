package tasks

import (
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// TestControlQueuedForAStoppingTaskActorIsAnswered: a control the root
// forwards to a task actor that stops with it still queued (the actor stops
// right after it reports a failure to its job) is dispatched again once the
// root hears that the actor stopped: here, with no actor left for the task,
// answered errNotActive so that the manager writes it to the store. Before,
// it was dropped unanswered, and a job's terminate waited out its whole
// time-out (seed 1796618177849118318: the terminate left no trace on the
// task's member).
func TestControlQueuedForAStoppingTaskActorIsAnswered(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	entered, release := make(chan struct{}), make(chan struct{})
	posted := make(controlPosted, 1)
	childProps := actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(string); ok {
			close(entered)
			<-release
			c.Stop(c.Self()) // handled before the control queued behind this message
		}
	}, actor.WithMailbox(actor.Unbounded(posted)))
	m := &Manager{system: sys}
	spawned := make(chan *actor.PID, 1)
	root := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &rootWithFakeChild{rootActor: &rootActor{m: m, children: map[string]*actor.PID{}}, props: childProps, spawned: spawned}
	}))
	sys.Root.Send(root, spawnFake("t-1"))
	child := <-spawned
	sys.Root.Send(child, "finish")
	<-entered
	f := sys.Root.RequestFuture(root, &controlTask{Control{ID: "t-1", Op: OpCancel}}, 5*time.Second)
	<-posted // the control waits in the mailbox of an actor about to stop
	close(release)
	res, err := f.Result()
	if err != nil {
		t.Fatalf("control queued for an actor that stopped: %v; want an answer", err)
	}
	if reply, ok := res.(*controlReply); !ok || !errors.Is(reply.err, errNotActive) {
		t.Fatalf("answer %#v; want errNotActive (the manager then writes the control itself)", res)
	}
}

// rootWithFakeChild is a task manager's root whose task actor is a stand-in.
type rootWithFakeChild struct {
	*rootActor
	props   *actor.Props
	spawned chan *actor.PID
}

type spawnFake string

func (r *rootWithFakeChild) Receive(c actor.Context) {
	if id, ok := c.Message().(spawnFake); ok {
		pid, err := c.SpawnNamed(r.props, "task-"+string(id))
		if err != nil {
			panic(err)
		}
		r.children[string(id)] = pid
		r.spawned <- pid
		return
	}
	r.rootActor.Receive(c)
}

// controlPosted tells when a control is posted to the mailbox it watches.
type controlPosted chan struct{}

func (p controlPosted) MailboxStarted()     {}
func (p controlPosted) MessageReceived(any) {}
func (p controlPosted) MailboxEmpty()       {}
func (p controlPosted) MessagePosted(message any) {
	if env, ok := message.(*actor.MessageEnvelope); ok {
		message = env.Message
	}
	if _, ok := message.(*controlTask); ok {
		p <- struct{}{}
	}
}
