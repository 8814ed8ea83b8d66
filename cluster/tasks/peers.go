package tasks

import (
	"context"
	"errors"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
)

// Peers is how a task manager reaches the other members of its cluster.
// The manager decides what to send and to whom; an implementation only
// carries it (package node's sends protobuf messages over protoactor
// remoting). Hints (Notify, Push) are best effort: each has a safety net
// in the store, so a lost one costs latency, never a task.
type Peers interface {
	// SubmitTo asks owner to store a task this member built and start it
	// (Manager.SubmitOwned there). An error wrapping ErrOwnerUnreachable
	// means owner could not be asked or did not answer: Submit then
	// stores the task here, pending, for the owner to claim. Any other
	// error is the owner's answer and reaches the caller. fresh passes on
	// the submit's hint that its id is new (Submission.Fresh); an
	// implementation may drop it (the owner then asks the store).
	SubmitTo(ctx context.Context, owner string, t *messages.Task, fresh bool) (rec store.Record, created bool, err error)
	// Notify tells owner that it owns a new task, as stored. The owner's
	// watch of its owner index finds the task without it, only later.
	Notify(owner string, rec store.Record)
	// Push tells member, which took a task's submit for another owner, of
	// the task's new state as committed, so its waiters need not ask the
	// store (they do after Config.HandoffWait without one).
	Push(member string, rec store.Record)
	// Forward sends a cancel or restart to the task's owning member; ok
	// false means the owner is not live, and the change is then written
	// here, check-and-set, so the dead owner's claim loses.
	Forward(ctx context.Context, owner string, c Control) (ok bool, err error)
}

// ProgressReader is a Peers that can read a running attempt's live
// progress from the member running it. Progress lives in that member's
// memory (a handler reports it far more often than a store should be
// written), so a member answering for a task another member runs asks
// it: a waiter anywhere sees progress, not only on the owner.
type ProgressReader interface {
	// Progress is what owner knows of task id's running attempt: its
	// number, fraction and note. It must ask owner for its own knowledge
	// only (LocalOnly), so that two members with different views never
	// ask each other in turn.
	Progress(ctx context.Context, owner, id string) (attempt int32, fraction float64, note string, err error)
}

// ErrOwnerUnreachable: Peers.SubmitTo could not reach the owner, and the
// task was not stored there (as far as this member can tell).
var ErrOwnerUnreachable = errors.New("owner unreachable")

// JobPeers is a Peers that carries job supervision between members: a
// job's supervisor runs on one member (the job's claim), its children on
// any. Without it, a member claims the job for itself to deliver an
// event, and terminates a task owned elsewhere by claiming it (fencing
// the owner's writes, not waiting for its attempt).
type JobPeers interface {
	// JobControl carries out a job's control of its task on owner: c is
	// OpTerminate (answered once the attempt has exited or was abandoned)
	// or OpRestart with the job's round (a start); ok false means owner is
	// not live.
	JobControl(ctx context.Context, owner string, c Control) (ok bool, err error)
	// ReportJob delivers an event to the supervisor of job, which owner
	// runs; ok false means owner is not live.
	ReportJob(ctx context.Context, owner, job string, ev *messages.JobEvent) (ok bool, err error)
}
