package tasks

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// aliveProbe is how often askAlive looks whether the actor it waits on
// still exists.
const aliveProbe = 100 * time.Millisecond

// askAlive sends msg to the local actor pid and waits up to timeout for the
// answer, like RequestFuture(...).Result(), but answers actor.ErrDeadLetter
// as soon as the actor is gone: an actor that finalises its stop while msg
// sits in its mailbox drops msg unanswered (protoactor discards a stopped
// actor's queued messages), and the caller would otherwise wait out the
// whole time-out — a drain for 13 s, a checkpoint of an attempt whose task
// had just finished for 20 s.
func askAlive(system *actor.ActorSystem, pid *actor.PID, msg any, timeout time.Duration) (any, error) {
	f := system.Root.RequestFuture(pid, msg, timeout)
	type answer struct {
		res any
		err error
	}
	out := make(chan answer, 1)
	go func() {
		res, err := f.Result()
		out <- answer{res, err}
	}()
	tick := time.NewTicker(aliveProbe)
	defer tick.Stop()
	for gone := false; ; {
		select {
		case a := <-out:
			return a.res, a.err
		case <-tick.C:
			if gone {
				return nil, actor.ErrDeadLetter // gone a whole probe ago, and no answer came
			}
			_, live := system.ProcessRegistry.GetLocal(pid.GetId())
			gone = !live
		}
	}
}
