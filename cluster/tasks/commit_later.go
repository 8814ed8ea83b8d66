package tasks

// A task's end (its result, its failure, its cancellation) is held in the
// task actor, not lost, while the store cannot take it: a full disk, Consul
// away for longer than StoreTimeout. Failing the actor instead would
// restart it, and the restart would find the task running on this very
// member and count the attempt lost ("member … stopped while running it"),
// running a finished attempt again, once per StoreTimeout, until the store
// came back.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
)

// finishAgain tries again to commit the end a task actor holds (sent after
// a backoff by finishLater).
type finishAgain struct {
	p      plan
	result []byte
}

// pendingFinish is the end a task actor holds while the store refuses it.
type pendingFinish struct {
	tries int
	timer *time.Timer
}

// commitLogEvery: one line per task says its commit waits for the store (the
// first failure), and no more than one such line per period for the whole
// member, with a count of those left out: a full disk fails every task's
// commit at once.
const commitLogEvery = 10 * time.Second

// errFinishPending: a control (cancel, restart) reached a task whose end is
// decided but not committed yet.
var errFinishPending = fmt.Errorf("%w: the task has ended and its end waits for the store to take it; try again", api.ErrUnavailable)

// finishLater keeps the end whose commit failed with err and tries it again
// after a backoff, if the store is only unavailable or slow (StoreTimeout
// passed) and this member is neither fenced nor stopping; it reports
// whether it did. A write that timed out may have landed: the next try
// then finds the task finished and the actor stops (writeLeave).
func (a *taskActor) finishLater(p plan, result []byte, err error) bool {
	if !errors.Is(err, store.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) || a.m.fenced() || a.m.closing.Load() {
		return false
	}
	if a.pending == nil {
		a.pending = &pendingFinish{}
		if ok, held := a.m.commitLog.Allow(a.m.now()); ok {
			a.logger().Warn("committing the task's end failed: the store is unavailable; the end is kept and committed when the store takes it",
				"state", p.state.String(), "err", err, "similar_lines_left_out", held)
		}
	}
	a.pending.tries++
	self, system := a.self, a.c().ActorSystem()
	a.pending.timer = time.AfterFunc(storeRetry.Delay(a.pending.tries, rand.Float64()), func() {
		system.Root.Send(self, &finishAgain{p: p, result: result})
	})
	return true
}

// finished notes a commit that landed after some failed.
func (a *taskActor) finishedLate() {
	if a.pending == nil {
		return
	}
	a.logger().Info("the task's end is committed: the store takes writes again", "tries", a.pending.tries+1)
	a.pending = nil
}

// stopPending stops the retry of a held end (the actor stops).
func (a *taskActor) stopPending() {
	if a.pending != nil && a.pending.timer != nil {
		a.pending.timer.Stop()
	}
}

// receivePending handles the messages that concern a held end; it reports
// whether msg was one of them or must wait until the end is committed.
func (a *taskActor) receivePending(c actor.Context, msg any) bool {
	switch msg := msg.(type) {
	case *finishAgain:
		a.finish(msg.p, msg.result)
		return true
	case *controlTask:
		if a.pending != nil {
			c.Respond(&controlReply{err: errFinishPending})
			return true
		}
	case *startAttempt:
		return a.pending != nil
	}
	return false
}
