package tasks

import (
	"context"
	"errors"
	"fmt"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The creation of a task on its owner: stored claimed and running its first
// attempt, or started ahead of its first write (Config.HoldFirstWrite).

// SubmitOwned stores a task another member built for this one, its owner by
// placement, and starts it (Peers.SubmitTo on that member calls it here).
// from is that member, told of the task's changes; fresh, that the
// submit's client made the id just now (Submission.Fresh).
func (m *Manager) SubmitOwned(ctx context.Context, t *messages.Task, from string, fresh bool) (store.Record, bool, error) {
	switch {
	case m.closing.Load():
		return store.Record{}, false, fmt.Errorf("%w: member %s is shutting down", api.ErrUnavailable, m.member)
	case m.fenced():
		return store.Record{}, false, fmt.Errorf("%w: member %s is fenced", api.ErrUnavailable, m.member)
	case t.GetStatus().GetOwner() != m.member:
		return store.Record{}, false, fmt.Errorf("%w: task %s is for member %s, not %s", api.ErrFailedPrecondition, t.GetSpec().GetId(), t.GetStatus().GetOwner(), m.member)
	}
	if _, err := m.registry.Task(t.GetSpec().GetKind()); err != nil {
		return store.Record{}, false, fmt.Errorf("%w: %w", api.ErrFailedPrecondition, err)
	}
	return m.createOwned(ctx, t, from, fresh)
}

// createOwned stores a task claimed by this member and running its first
// attempt, and starts that attempt: one write where creating it pending
// and claiming it would take two. Execution stays at-least-once: if this
// member dies before or during the attempt, whoever resumes the task finds
// it running and counts the attempt lost.
//
// With Config.HoldFirstWrite and a store that can tell cheaply whether the
// task exists, the attempt starts first and the task actor writes the task
// when the attempt ends or the hold is over (see runFirst); the answer
// waits for that write either way, so the task is durable when it comes.
// fresh: the submitter made the id just now (Submission.Fresh), and the
// store is not asked whether it exists first.
func (m *Manager) createOwned(ctx context.Context, t *messages.Task, from string, fresh bool) (store.Record, bool, error) {
	if len(t.GetSpec().GetDependsOn()) > 0 || Delayed(t, m.now()) {
		// It waits (for its dependencies, for its start time): stored
		// pending, nothing runs ahead of the write.
		return m.createWaiting(ctx, t, from)
	}
	st := t.GetStatus()
	st.State, st.Owner, st.Epoch, st.Attempts = messages.TaskState_TASK_STATE_RUNNING, m.member, 1, 1
	st.StartedAt = timestamppb.New(m.now())
	id := t.GetSpec().GetId()
	// Until the actor of the new task is spawned, an activation from the
	// owner-index watch (which may see the task first) waits: it would
	// take the task for one interrupted in flight.
	if _, busy := m.creating.LoadOrStore(id, struct{}{}); busy {
		// The same task is being created here already (a retried submit):
		// the store's check-and-set decides, and this one runs nothing.
		rec, created, err := m.store.Create(ctx, t)
		if err == nil && created {
			pre := rec // the first creator failed to store it: run it
			m.system.Root.Send(m.root, &activate{id: id, rec: &pre, from: from, born: true})
		}
		return m.submitAnswer(t, rec, created, err)
	}
	if rec, created, err := m.runFirst(ctx, t, from, fresh); !errors.Is(err, errWriteFirst) {
		return m.submitAnswer(t, rec, created, err)
	}
	rec, created, err := m.store.Create(ctx, t)
	if err != nil || !created {
		m.creating.Delete(id)
		m.system.Root.Send(m.root, &notBorn{id: id})
		return m.submitAnswer(t, rec, created, err)
	}
	pre := rec
	// The root actor ends the mark of the task as being created when it
	// handles this activation (rootActor.created): an activation from the
	// owner-index watch, which saw the stored task and may reach the root
	// first, waits for it instead of starting a second actor.
	m.system.Root.Send(m.root, &activate{id: id, rec: &pre, from: from, born: true})
	return rec, true, nil
}

// runFirst starts a new task's first attempt before the task is stored:
// its actor writes it when the attempt ends or Config.HoldFirstWrite has
// passed, and createOwned answers with that write's outcome. It returns
// errWriteFirst when it cannot (no hold, no store.Prober, the task may
// exist, tasks of its kind mostly outlast the hold (see holdLearner), it
// belongs to a job, or an actor of the task still runs): the task is then
// written first.
//
// fresh skips asking the store whether the task exists: the submitter
// made its id just now. The first write's check that the id is free
// stays, so a wrong hint costs a run of the attempt, never a second task:
// the write finds the task, the attempt's outcome is dropped and the
// stored task answers (the task actor's create, task_write.go).
func (m *Manager) runFirst(ctx context.Context, t *messages.Task, from string, fresh bool) (store.Record, bool, error) {
	id := t.GetSpec().GetId()
	if m.cfg.HoldFirstWrite <= 0 || m.caps.Prober == nil || !m.holds.hold(t.GetSpec().GetKind()) || t.GetSpec().GetJobId() != "" {
		// A task of a job is stored before anything of it runs: its join
		// gate reads the job after (joingate.go).
		return store.Record{}, false, errWriteFirst
	}
	if !fresh {
		if exists, err := m.caps.Prober.Exists(ctx, id); err != nil || exists {
			// Stored already (a resubmission: Create finds it, and nothing
			// runs again), or the store cannot tell: write first.
			return store.Record{}, false, errWriteFirst
		}
	}
	answer := make(chan firstWrite, 1)
	pre := store.Record{Task: t}
	m.system.Root.Send(m.root, &activate{id: id, rec: &pre, from: from, born: true, unstored: answer})
	// Until the first write is answered, a resubmission of the same task
	// here goes straight to the store (createOwned). Then an activation
	// that waited goes ahead; unless the task is written first after all,
	// and createOwned, still marking it as being created, does that.
	writeFirst := false
	defer func() {
		if !writeFirst {
			m.creating.Delete(id)
			m.system.Root.Send(m.root, &notBorn{id: id})
		}
	}()
	select {
	case w := <-answer:
		writeFirst = errors.Is(w.err, errWriteFirst)
		return w.rec, w.created, w.err
	case <-ctx.Done():
		// The write may still land; the caller retries with the same id
		// and finds the task.
		return store.Record{}, false, ctx.Err()
	}
}

// firstWrite is the outcome of a task actor's first write of a task that
// runFirst started unstored.
type firstWrite struct {
	rec     store.Record
	created bool
	err     error
}

// submitAnswer turns a creation's outcome into Submit's answer.
func (m *Manager) submitAnswer(t *messages.Task, rec store.Record, created bool, err error) (store.Record, bool, error) {
	if err != nil {
		return store.Record{}, false, storeErr(err)
	}
	if !created {
		if !sameRequest(rec.Task, t) {
			return store.Record{}, false, fmt.Errorf("%w: task %s exists with a different kind, payload or job", api.ErrAlreadyExists, t.GetSpec().GetId())
		}
		return m.withLive(rec), false, nil
	}
	return rec, true, nil
}
