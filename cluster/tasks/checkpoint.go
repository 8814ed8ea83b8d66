package tasks

// Checkpoints: a handler saves a small value that every later attempt of
// its task starts with (actors.TaskContext.Checkpoint). The value is part
// of the task's record, so saving it is one write of the task actor,
// check-and-set on the record's revision under the claim's epoch: fenced
// exactly as a commit is. An attempt that is no longer the task's running
// one (it timed out, was cancelled or restarted, its member lost the
// claim) saves nothing and gets an error wrapping actors.ErrFenced.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MaxCheckpointBytes bounds an encoded checkpoint. It is stored in the
// task's record beside a payload of up to MaxPayloadBytes (256 KiB) and
// under MaxRecordBytes (360 KiB) in all: 64 KiB keeps room for the error
// history and a result, and is a progress marker's size many times over
// (an offset, a cursor, a list of finished ids). A handler with more state
// keeps it elsewhere and checkpoints a reference to it.
const MaxCheckpointBytes = 64 << 10

// saveCheckpoint asks the task actor to store attempt's checkpoint; the
// reply is an error (nil: stored).
type saveCheckpoint struct {
	attempt int
	data    []byte
}

// checkpointReply answers a saveCheckpoint.
type checkpointReply struct{ err error }

// checkpointFence decides whether attempt may save a checkpoint now: it
// must be the task's running attempt (live is the attempt this actor
// runs, 0 for none) and the task must be running. The error wraps
// actors.ErrFenced.
func checkpointFence(attempt, live int, st *messages.TaskStatus) error {
	switch {
	case live == 0 || attempt != live:
		return fmt.Errorf("%w: attempt %d is not the task's running attempt", actors.ErrFenced, attempt)
	case !isCurrent(attempt, st, true) || st.GetState() != messages.TaskState_TASK_STATE_RUNNING:
		return fmt.Errorf("%w: the task is %s at attempt %d", actors.ErrFenced, st.GetState(), st.GetAttempts())
	}
	return nil
}

// checkpointStatus is the status change of a saved checkpoint.
func checkpointStatus(st *messages.TaskStatus, data []byte, attempt int, now time.Time) {
	st.Checkpoint = data
	st.CheckpointAt = timestamppb.New(now)
	st.CheckpointAttempt = int32(attempt)
}

// checkpointWriteErr is what the handler hears of a checkpoint write that
// did not land: fenced for a lost claim or a finished task, invalid for a
// record that cannot hold it, unavailable otherwise (it may try again).
func checkpointWriteErr(err error) error {
	switch {
	case errors.Is(err, errRecordTooLarge):
		return fmt.Errorf("%w: %w: the task's record cannot hold it: %w", api.ErrInvalidArgument, actors.ErrCheckpointTooLarge, err)
	case writeVerdictOf(err) == writeLeave:
		return fmt.Errorf("%w: %w", actors.ErrFenced, err)
	}
	return fmt.Errorf("%w: saving the checkpoint: %w", api.ErrUnavailable, err)
}

// checkpoint stores a running attempt's checkpoint. A write that finds the
// claim lost or the task finished ends this actor, as any write does; one
// that the store refuses for now leaves the attempt running: the handler
// hears of it and may save again.
func (a *taskActor) checkpoint(msg *saveCheckpoint) error {
	live := 0
	if a.attempt != nil {
		live = a.attempt.tc.attempt
	}
	if err := checkpointFence(msg.attempt, live, a.rec.Task.GetStatus()); err != nil {
		return err
	}
	if a.m.fenced() {
		return fmt.Errorf("%w: %w", actors.ErrFenced, errFenced)
	}
	now := a.m.now()
	err := a.write(func(t *messages.Task) { checkpointStatus(t.Status, msg.data, msg.attempt, now) })
	if err == nil {
		return nil
	}
	out := checkpointWriteErr(err)
	if errors.Is(out, actors.ErrFenced) {
		a.writeFailed("checkpoint", err) // stops this actor, and its attempt
	}
	return out
}

// checkpointer is an attempt's side of its checkpoints: the last value
// saved, and the coalescing of saves. At most one save is in flight; the
// saves asked for meanwhile wait for the next one, which carries the
// latest of their values (the earlier ones are superseded, never stored
// after it).
type checkpointer struct {
	// store writes one value and answers when it landed.
	store func(data []byte) error
	// sem holds the right to write: one write in flight.
	sem chan struct{}

	mu      sync.Mutex
	last    []byte // the last value stored (or the attempt started with)
	pending []byte
	next    *checkpointFlush // the write that will carry pending; nil: none due
}

// checkpointFlush is one write, shared by the saves it carries.
type checkpointFlush struct {
	done chan struct{}
	err  error
}

func newCheckpointer(last []byte, store func([]byte) error) *checkpointer {
	return &checkpointer{store: store, last: last, sem: make(chan struct{}, 1)}
}

// save stores data, or a later value asked for before the write, and
// answers once it landed (or ctx ended: the value may still land).
func (c *checkpointer) save(ctx context.Context, data []byte) error {
	c.mu.Lock()
	c.pending = data
	if c.next == nil {
		c.next = &checkpointFlush{done: make(chan struct{})}
	}
	mine := c.next
	c.mu.Unlock()
	select {
	case <-mine.done:
	case c.sem <- struct{}{}:
		c.flush()
		<-c.sem
		<-mine.done // flushed by this call, or by the one before it
	case <-ctx.Done():
		return ctx.Err()
	}
	return mine.err
}

// flush writes the pending value, if any, holding sem.
func (c *checkpointer) flush() {
	c.mu.Lock()
	f, data := c.next, c.pending
	c.next, c.pending = nil, nil
	c.mu.Unlock()
	if f == nil {
		return // the write before this one carried it
	}
	f.err = c.store(data)
	if f.err == nil {
		c.mu.Lock()
		c.last = data
		c.mu.Unlock()
	}
	close(f.done)
}

// lastSaved is the last value stored.
func (c *checkpointer) lastSaved() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Checkpoint implements actors.TaskContext.
func (c *taskContext) Checkpoint(v any) error {
	data, err := actors.EncodeCheckpoint(v)
	if err != nil {
		return fmt.Errorf("%w: encoding the checkpoint of task %s: %w", api.ErrInvalidArgument, c.id, err)
	}
	if len(data) > MaxCheckpointBytes {
		return fmt.Errorf("%w: %w: task %s: %d bytes, the limit is %d", api.ErrInvalidArgument, actors.ErrCheckpointTooLarge, c.id, len(data), MaxCheckpointBytes)
	}
	cp := c.checkpointer()
	if cp == nil {
		return fmt.Errorf("%w: task %s: this context saves no checkpoints", actors.ErrFenced, c.id)
	}
	// Not bounded by the attempt's context: a handler told to stop (its
	// member drains) may still save where it stands before it returns;
	// the task actor's fence decides, and its answer comes within the
	// request's time-out.
	if err := cp.save(context.Background(), data); err != nil {
		return fmt.Errorf("task %s attempt %d: checkpoint: %w", c.id, c.attempt, err)
	}
	c.Heartbeat()
	return nil
}

// LastCheckpoint implements actors.TaskContext.
func (c *taskContext) LastCheckpoint(v any) (bool, error) {
	cp := c.checkpointer()
	if cp == nil {
		return false, nil
	}
	data := cp.lastSaved()
	if len(data) == 0 {
		return false, nil
	}
	if err := actors.DecodeCheckpoint(data, v); err != nil {
		return true, fmt.Errorf("task %s: decoding its checkpoint: %w", c.id, err)
	}
	return true, nil
}

// checkpointer is the attempt's checkpointer, made on first use; nil for
// a context that saves none (no task actor to save through).
func (c *taskContext) checkpointer() *checkpointer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.checkpoints == nil && c.self != nil {
		c.checkpoints = newCheckpointer(c.firstCheckpoint,
			checkpointSaver(c.m.system, c.self, c.attempt, 2*c.m.cfg.StoreTimeout))
	}
	return c.checkpoints
}

// checkpointSaver is how attempt n of the task actor self saves: a request
// to the actor, answered when the write landed or failed.
func checkpointSaver(system *actor.ActorSystem, self *actor.PID, n int, timeout time.Duration) func([]byte) error {
	return func(data []byte) error {
		res, err := askAlive(system, self, &saveCheckpoint{attempt: n, data: data}, timeout)
		switch {
		case errors.Is(err, actor.ErrDeadLetter):
			// The task actor has stopped: the task finished, or this
			// member no longer owns it.
			return fmt.Errorf("%w: the task's actor on this member has stopped", actors.ErrFenced)
		case err != nil:
			return fmt.Errorf("%w: the task's actor did not answer: %w", api.ErrUnavailable, err)
		}
		return res.(*checkpointReply).err
	}
}
