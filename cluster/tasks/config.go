package tasks

import (
	"errors"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/metrics"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"go.opentelemetry.io/otel/trace"
)

// Config configures a Manager.
type Config struct {
	// Member is this node's member id: the owner recorded on its tasks.
	Member string
	// Store is the task store. Required.
	Store store.Store
	// Registry holds the task kinds this node runs. Required.
	Registry *actors.Registry
	// System is the actor system to run in; nil creates one (and Stop shuts
	// it down).
	System *actor.ActorSystem
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Clock returns the current time; nil is time.Now. Tests inject one.
	Clock func() time.Time
	// ParkIdle lets a task that only waits for its next attempt (a
	// backoff, a start_at) give up its actor: the root keeps a few bytes
	// of it and its wake-up in the member's heap (root_idle.go), about
	// 1 KB per waiting task instead of 9 KB. DefaultConfig turns it on;
	// off, a waiting task keeps its actor.
	ParkIdle bool
	// RecoverAll makes Start resume every unfinished task in the store, not
	// only those this member owns: right for a single node, whose store is
	// its own.
	RecoverAll bool
	// StoreTimeout bounds one store write of a task actor.
	StoreTimeout time.Duration
	// Events, when set, are told of lifecycle steps (metrics, tests).
	Events Events
	// Fenced reports self-fencing: while it holds, task actors write
	// nothing and stop, and no task is activated. Nil: never fenced.
	Fenced func() bool
	// Owner picks the member that owns a new task (placement); nil or ""
	// keeps it on this member. The owner's watcher of its owner index
	// activates it.
	Owner func(kind, id string) string
	// Retention is how long finished tasks (results, dead letters) are kept.
	Retention time.Duration
	// JanitorEvery is the interval of retention sweeps.
	JanitorEvery time.Duration
	// Janitor reports whether this member sweeps (one member of a cluster
	// should); nil: it does.
	Janitor func() bool
	// Peers reaches the other members: hands new tasks to their owners,
	// tells submitters of their tasks' changes, forwards cancels and
	// restarts. Nil: a single member; every task is stored and run here.
	Peers Peers
	// HandoffWait is how long a member that handed a task to another owner
	// waits for that owner's Push before its waiters ask the store.
	HandoffWait time.Duration
	// MaxRecordBytes bounds a task's stored record (see fit): the store's
	// value limit, less room. Tests set it small.
	MaxRecordBytes int
	// HoldFirstWrite: a task created on its owner runs its first attempt
	// at once and is first written when that attempt ends or HoldFirstWrite
	// has passed, whichever comes first, so a task that finishes within it
	// is written once, finished, instead of twice (running, then
	// finished). Its submit is answered once that write lands. Kinds whose
	// tasks mostly outlast the hold stop holding (their submits would only
	// wait longer) and look again now and then. 0: the task is written
	// running before its attempt starts. Needs a store.Prober, which keeps
	// a resubmitted task from running again.
	HoldFirstWrite time.Duration
	// TracerProvider records the spans of the tasks' lives (see
	// tracing.go); nil records none, at no cost.
	TracerProvider trace.TracerProvider
	// Metrics receives the tasks' metrics (submits, attempts, supervisor
	// decisions, jobs, owned tasks by state); nil records nothing.
	Metrics *metrics.Metrics
	// Abandoned caps the attempts whose handler did not return when the
	// attempt ended (it ignores its context), per kind and for the member:
	// past a cap, attempts wait (see abandoned.go).
	Abandoned AbandonLimits
}

// DefaultConfig returns a configuration with documented defaults; Store and
// Registry must still be set.
func DefaultConfig(member string) Config {
	return Config{
		Member: member,
		// 10s: far above a healthy store's write latency (ms), short enough
		// that a wedged store fails the task actor, whose supervisor then
		// retries with backoff, instead of blocking it forever.
		StoreTimeout: 10 * time.Second,
		// 7 days, like a week of dead letters to inspect: long enough to
		// read results and debug failures after a weekend, short enough
		// that the store does not grow without bound.
		Retention: 7 * 24 * time.Hour,
		// 10 minutes: a sweep lists every finished task; retention is
		// days, so minutes of lag cost nothing.
		JanitorEvery: 10 * time.Minute,
		// 2s: a short task is done well within it, and its waiters hear of
		// it from the owner without a Consul query; if the owner dies, they
		// learn of it no later than failover would move the task anyway.
		HandoffWait: 2 * time.Second,
		// 10ms: lookups, fan-out pieces and other short tasks finish within
		// it and cost one store write instead of two, which halves the
		// store's load for them; a longer task's submit is answered 10ms
		// later, about one Consul write under load, small against its run.
		HoldFirstWrite: 10 * time.Millisecond,
		// What Consul's 512 KiB value limit leaves (MaxRecordBytes); the
		// embedded store keeps the same, so what runs in dev runs in a
		// cluster.
		MaxRecordBytes: MaxRecordBytes,
		// 64 per kind, 256 per member: see DefaultAbandonLimits.
		Abandoned: DefaultAbandonLimits(),
		// On: a member holding many tasks that wait (retries an hour
		// away, schedules, start_at) spends about 1 KB on each, not 9 KB.
		// (It was off for a while: the fault campaign's child of a stopped
		// job starting an attempt was the join race the join gate closes,
		// seen with it off too.)
		ParkIdle: true,
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Member == "":
		return errors.New("tasks: Config.Member is required")
	case c.Store == nil:
		return errors.New("tasks: Config.Store is required")
	case c.Registry == nil:
		return errors.New("tasks: Config.Registry is required")
	case c.StoreTimeout <= 0:
		return errors.New("tasks: Config.StoreTimeout must be positive")
	case c.Retention <= 0 || c.JanitorEvery <= 0:
		return errors.New("tasks: Config.Retention and JanitorEvery must be positive")
	case c.HoldFirstWrite < 0:
		return errors.New("tasks: Config.HoldFirstWrite must not be negative")
	case c.MaxRecordBytes < 4<<10:
		return errors.New("tasks: Config.MaxRecordBytes must be at least 4 KiB")
	}
	return c.Abandoned.Validate()
}

// Events are optional callbacks on lifecycle steps. They run in actor
// goroutines and must not block.
type Events struct {
	// AttemptStarted: attempt (1 for the first) of task is starting.
	AttemptStarted func(task string, attempt int)
	// AttemptFailed: attempt of task failed with cause; the supervisor
	// decides next.
	AttemptFailed func(task string, attempt int, cause supervisor.Cause)
	// TaskFinished: task reached its terminal state, as committed.
	TaskFinished func(task string, state messages.TaskState)
}

func (e Events) attemptStarted(id string, n int) {
	if e.AttemptStarted != nil {
		e.AttemptStarted(id, n)
	}
}

func (e Events) attemptFailed(id string, n int, c supervisor.Cause) {
	if e.AttemptFailed != nil {
		e.AttemptFailed(id, n, c)
	}
}

func (e Events) taskFinished(id string, s messages.TaskState) {
	if e.TaskFinished != nil {
		e.TaskFinished(id, s)
	}
}
