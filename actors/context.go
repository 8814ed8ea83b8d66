package actors

import (
	"context"
	"log/slog"
	"time"
)

// TaskContext is what a task handler runs with. It is a context.Context
// that is cancelled when the attempt must stop: its attempt time-out or
// heartbeat time-out passed, the task was cancelled, its schedule-to-close
// deadline passed, or its owner lost the claim. A handler that ignores the
// cancellation is abandoned: its late result is discarded.
type TaskContext interface {
	context.Context
	// TaskID is the task's id, stable across attempts and members: use it
	// as an idempotency key for side effects.
	TaskID() string
	// Kind is the task's kind name.
	Kind() string
	// Attempt is the 1-based number of this attempt.
	Attempt() int
	// Heartbeat tells the supervisor the attempt is alive. With a heartbeat
	// time-out set, an attempt that stops heartbeating for longer fails as
	// hung. It is cheap (no I/O): call it as often as convenient.
	Heartbeat()
	// Progress reports a fraction in [0,1] and a short note; it counts as a
	// heartbeat. Clients see the last value in the task's status.
	Progress(fraction float64, note string)
	// Logger is a structured logger carrying the task id, kind and attempt.
	Logger() *slog.Logger
	// Checkpoint saves v (JSON, or protojson for a proto message) as the
	// task's checkpoint: once it returns nil, every later attempt, on any
	// member, after an error, a kill, a failover or a restart, starts
	// with it (LastCheckpoint). It is fenced like a commit: an attempt
	// that is no longer the task's running one gets an error wrapping
	// ErrFenced and saves nothing. Calls made while a save is in flight
	// are coalesced: the latest value wins, one store write at a time.
	// The encoded value is bounded (64 KiB in Granary's runtime): a larger
	// one gets an error wrapping ErrCheckpointTooLarge.
	Checkpoint(v any) error
	// LastCheckpoint decodes the task's last saved checkpoint into v (a
	// pointer) and reports whether there was one: what an earlier attempt
	// (or this one) saved. Between checkpoints, execution is
	// at-least-once: resume from it and repeat the step in progress.
	LastCheckpoint(v any) (bool, error)
}

// GrainContext is what a grain handler runs with: a context.Context bound
// to the request's deadline, plus the grain's identity.
type GrainContext interface {
	context.Context
	// Identity is the grain's identity within its kind.
	Identity() string
	// Kind is the grain's kind name.
	Kind() string
	// ActivationID is unique to this activation: a grain deactivated and
	// activated again, here or on another member, gets a new one.
	ActivationID() string
	// MemberID names the member hosting the activation.
	MemberID() string
	// Logger is a structured logger carrying the kind, identity and activation.
	Logger() *slog.Logger

	// SetReminder sets the grain's durable reminder name (replacing one of
	// that name) to fire after the delay, then every period (0: once),
	// with payload; the grain must be a ReminderHandler. It is stored with
	// the grain's state when the handler returns, in the same fenced
	// write, so a handler that fails sets nothing. Call it only from the
	// grain's handlers.
	SetReminder(name string, after, period time.Duration, payload []byte) error
	// CancelReminder removes the reminder name (none: no error), stored
	// as SetReminder is.
	CancelReminder(name string) error
	// Reminders lists the grain's reminders, by name, each with its next
	// due time, as they will be stored when the handler returns.
	Reminders() []Reminder
	// SetTimer sets the activation's timer name (replacing one of that
	// name) to fire after the delay, then every period (0: once), into
	// the activation's mailbox; the grain must be a TimerHandler. Timers
	// are not stored: they end with the activation.
	SetTimer(name string, after, period time.Duration, payload []byte) error
	// CancelTimer stops the timer name (none: nothing).
	CancelTimer(name string)
}
