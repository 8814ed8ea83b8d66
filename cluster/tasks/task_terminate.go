package tasks

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

// terminate carries out its job's terminate (OpTerminate): the running
// attempt is cancelled and stopped at once, so that whatever it returns
// later is no longer the task's (its actor is gone: the result is
// dropped), then waited for up to c.Shutdown; past it, the attempt is
// abandoned. The answer to sender (a *controlReply) comes once it has
// exited or was abandoned, with the task held for its job or made final.
// A terminate asked again meanwhile is answered with the first, unless it
// supersedes it (supersedes): then what it asks is what is written.
func (a *taskActor) terminate(c Control, sender *actor.PID) {
	if terminateStale(c, a.rec.Task.GetStatus()) {
		if sender != nil {
			a.c().Send(sender, &controlReply{rec: a.rec})
		}
		return
	}
	if sender != nil {
		a.termWaiters = append(a.termWaiters, sender)
	}
	if a.terminating != nil {
		if supersedes(c, *a.terminating) {
			a.terminating = &c
		}
		return
	}
	a.terminating = &c
	a.stopRetryTimer()
	a.dropJoin() // waiting at the join gate: the job knows it, and ends it
	if a.attempt == nil {
		a.terminated(false)
		return
	}
	done := a.attempt.tc.exited()
	a.endAttempt("terminated", nil)
	a.stopAttempt()
	self, system := a.self, a.c().ActorSystem()
	cut := a.m.jobs.Context()
	if !a.m.jobs.Go(func() { system.Root.Send(self, &attemptGone{abandoned: !exitedWithin(cut, done, c.Shutdown)}) }) {
		a.terminated(true) // the member stops: its attempts are abandoned anyway
	}
}

// logTaskTerminated is the debug line of a task its job terminated, once
// its attempt (if one ran) has exited or was abandoned.
const logTaskTerminated = "task terminated for its job"

// exitedWithin reports whether done closes within shutdown (at once for 0:
// OTP's brutal_kill) and before cut ends (the member stops).
func exitedWithin(cut context.Context, done <-chan struct{}, shutdown time.Duration) bool {
	if shutdown <= 0 {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	t := time.NewTimer(shutdown)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	case <-cut.Done():
		return false
	}
}

// terminated records the terminate once the attempt has exited (or was
// abandoned), answers the waiters and stops the actor: a held task needs
// none until its job starts it again.
func (a *taskActor) terminated(abandoned bool) {
	c := *a.terminating
	if abandoned {
		a.logger().Warn("attempt did not exit within its job's shutdown time; abandoned, what it returns is dropped", "shutdown", c.Shutdown)
	}
	if a.debug() {
		// The end of the attempt for a history checker (internal/chaos): no
		// attempt of the task runs here from now on.
		a.logger().Debug(logTaskTerminated, "attempts", a.rec.Task.GetStatus().GetAttempts(), "abandoned", abandoned, "round", c.Round)
	}
	now := a.m.now()
	err := a.write(func(t *messages.Task) { terminateStatus(t.Status, c, abandoned, now, a.m.member) })
	reply := &controlReply{rec: a.rec, err: err}
	for _, w := range a.termWaiters {
		a.c().Send(w, reply)
	}
	a.terminating, a.termWaiters = nil, nil
	if err != nil {
		a.writeFailed("terminate", err)
		return
	}
	if st := a.rec.Task.GetStatus().GetState(); store.Terminal(st) {
		a.m.hooks.taskFinished(a.id, st)
	}
	a.stop()
}

// supersedes reports whether terminate c, come while terminate cur waits
// for the attempt to exit, replaces it: a later round's (the job decided
// again: a group restart's terminate overtaken by its shutdown's), or one
// that makes the task final where cur leaves it held. Answered with cur,
// as it was, the job's stop took the task for cancelled while it was
// written held for a restart that never came (the campaign's "lost", seed
// 1796623584572486896: tree-00078-t).
func supersedes(c, cur Control) bool {
	return c.Round > cur.Round || c.Round == cur.Round && cur.Final == supervisor.FinalNone && c.Final != supervisor.FinalNone
}
