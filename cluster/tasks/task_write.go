package tasks

// The task actor's writes: every change of a task is one check-and-set on
// its revision, fenced by the claim (epoch); what a conflict or a failed
// write means is the core's decision (conflictVerdict, writeVerdictOf).

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"google.golang.org/protobuf/proto"
)

// write applies mutate with check-and-set. A conflict is re-read: another
// member's claim (a new epoch) or a terminal state ends this actor's
// ownership; any other concurrent change is merged by applying mutate again.
//
// A store that cannot be reached for now (store.ErrUnavailable: Consul
// restarting, no leader) is tried again with backoff within StoreTimeout,
// rather than failing the actor, whose restart would count its running
// attempt as lost and run it again. Such a write may have landed with its
// answer lost: the retry then conflicts, and the record read back is the
// one it sent.
func (a *taskActor) write(mutate func(t *messages.Task)) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.m.cfg.StoreTimeout)
	defer cancel()
	if a.unstored {
		return a.create(ctx, mutate)
	}
	var sent *messages.Task // a write that may have landed unanswered
	for tries, waits := 0, 0; ; {
		if a.m.fenced() {
			return errFenced
		}
		next := proto.Clone(a.rec.Task).(*messages.Task)
		if a.unclaimed {
			claim(a.m.member)(next)
		}
		mutate(next)
		if err := fit(next, a.m.cfg.MaxRecordBytes); err != nil {
			return err
		}
		rec, err := a.m.store.Update(ctx, next, a.rec.Revision)
		if err == nil {
			a.wrote(rec)
			return nil
		}
		if errors.Is(err, store.ErrUnavailable) {
			sent = next
			if waits++; !supervisor.Sleep(ctx, storeRetry.Delay(waits, rand.Float64())) {
				return err
			}
			continue
		}
		if !errors.Is(err, store.ErrConflict) || tries >= 5 {
			return err
		}
		tries++
		fresh, gerr := a.m.store.Get(ctx, a.id)
		if errors.Is(gerr, store.ErrUnavailable) {
			if waits++; !supervisor.Sleep(ctx, storeRetry.Delay(waits, rand.Float64())) {
				return gerr
			}
			continue // the write conflicts again, and the read is retried
		}
		if gerr != nil {
			return gerr
		}
		landed, err := conflictVerdict(fresh, a.rec.Task.GetStatus(), sent)
		if landed {
			a.wrote(fresh) // it landed; only its answer was lost
			return nil
		}
		if err != nil {
			return err
		}
		a.rec = fresh
	}
}

// wrote records a write that landed: the task is claimed if it was not,
// and the member that submitted it hears of the change.
func (a *taskActor) wrote(rec store.Record) {
	if a.unclaimed {
		a.unclaimed = false
		a.claimed()
		if a.debug() {
			a.logger().Debug("task claimed", "epoch", rec.Task.GetStatus().GetEpoch())
		}
	}
	a.rec = a.m.specParts.keep(rec, false) // the store's answer to this actor's write: its own
	if a.replyTo != "" && a.replyTo != a.m.member && a.m.cfg.Peers != nil {
		a.m.cfg.Peers.Push(a.replyTo, store.Record{Task: proto.Clone(rec.Task).(*messages.Task), Revision: rec.Revision})
	}
}

// storeRetry spaces the tries of a write while the store is unavailable:
// 50ms doubling to 1s, full jitter, so that the tasks of a member do not
// all try again at once when Consul is back.
var storeRetry = supervisor.Backoff{Initial: 50 * time.Millisecond, Multiplier: 2, Max: time.Second, Jitter: supervisor.JitterFull}

// create is the first write of a task started unstored: it creates the
// task as mutate leaves it (finished, if its attempt is done) and answers
// runFirst.
func (a *taskActor) create(ctx context.Context, mutate func(t *messages.Task)) error {
	a.unstored = false
	if a.hold != nil {
		// Stopped before it fired: the attempt ended within the hold.
		a.m.holds.observe(a.rec.Task.GetSpec().GetKind(), a.hold.Stop())
		a.hold = nil
	}
	if a.m.fenced() {
		a.answerFirst(firstWrite{err: fmt.Errorf("%w: %w", errNotStored, errFenced)})
		return errFenced
	}
	// Changed in place, not copied: nothing else changes or keeps the task
	// before it is stored (runFirst's caller reads its spec only after the
	// answer), and if it is not stored this actor stops.
	next := a.rec.Task
	mutate(next)
	if err := fit(next, a.m.cfg.MaxRecordBytes); err != nil {
		a.answerFirst(firstWrite{err: fmt.Errorf("%w: %w", api.ErrInvalidArgument, err)})
		return err
	}
	rec, created, err := a.m.store.Create(ctx, next)
	a.answerFirst(firstWrite{rec: rec, created: created, err: err})
	switch {
	case err != nil:
		// The caller hears of it. Had the write landed after all (its
		// answer lost), the owner-index watch finds the task running here
		// with no actor, and resumes it.
		return fmt.Errorf("%w: %w", errFirstWrite, err)
	case !created:
		// Stored meanwhile by another submit: that one runs it.
		return fmt.Errorf("%w: created meanwhile by another submit", errLostClaim)
	}
	a.rec = a.m.specParts.keep(rec, true) // no push: runFirst's answer carries the record
	return nil
}

// answerFirst tells runFirst the outcome of the first write, once.
func (a *taskActor) answerFirst(w firstWrite) {
	if a.firstWrite != nil {
		a.firstWrite <- w
		a.firstWrite = nil
	}
}

// writeFailed handles a write that did not land. Losing the claim or
// finding the task finished ends this actor quietly; any other error (the
// store unreachable) fails the actor, and its supervisor restarts it, which
// reloads the task from the store.
func (a *taskActor) writeFailed(what string, err error) {
	switch writeVerdictOf(err) {
	case writeLeave:
		a.logger().Warn("task no longer ours; stopping without writing", "step", what, "err", err)
		a.stop()
		return
	case writeStuck:
		a.logger().Error("task record cannot fit the store; its actor stops", "step", what, "err", err)
		a.stop()
		return
	}
	panic(fmt.Errorf("task %s: %s: %w", a.id, what, err))
}
