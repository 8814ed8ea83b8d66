package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// settle waits until every task actor has handled what is already in its
// mailbox: an attempt that ended (running fell to 0) has sent its outcome
// to its task actor, which commits it there. Stopping the actors before
// that would drop the outcome (a stop overtakes queued messages), leaving
// a finished attempt running in the store, to be run again by whoever
// adopts the task. Each actor answers an actor.Touch after the messages
// queued before it.
func (m *Manager) settle(ctx context.Context) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(m.cfg.StoreTimeout)
	}
	res, err := m.system.Root.RequestFuture(m.root, &taskActors{}, time.Until(deadline)).Result()
	if err != nil {
		return fmt.Errorf("tasks: listing task actors at shutdown: %w", err)
	}
	for _, pid := range res.([]*actor.PID) {
		if err := m.touch(pid, deadline); err != nil {
			return fmt.Errorf("tasks: committing the last outcomes at shutdown: task actor %s: %w", pid.GetId(), err)
		}
	}
	return nil
}

// touch waits until the actor pid has handled what was queued before the
// call, or is gone; it gives up at deadline.
func (m *Manager) touch(pid *actor.PID, deadline time.Time) error {
	left := time.Until(deadline)
	if left <= 0 {
		return context.DeadlineExceeded
	}
	_, err := askAlive(m.system, pid, &actor.Touch{}, left)
	if errors.Is(err, actor.ErrDeadLetter) {
		return nil // stopped meanwhile: its outcome was handled before it stopped
	}
	return err
}
