package grains

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/metrics"
	"github.com/granary-rt/granary/supervisor"
	"go.opentelemetry.io/otel/trace"
)

// Config configures a Host.
type Config struct {
	// Member is this member's id. Required.
	Member string
	// Registry holds the grain kinds. Required.
	Registry *actors.Registry
	// Kinds are the grain kinds this member hosts; nil hosts all registered.
	Kinds []string
	// System is the actor system (with remoting started in a cluster). Required.
	System *actor.ActorSystem
	// Directory records activation holders. Required.
	Directory Directory
	// State stores the state of durable grain kinds (GrainWithState),
	// fenced by the directory's claims. Nil: such kinds are refused.
	State StateStore
	// Fenced reports self-fencing; a fenced member processes nothing. Nil:
	// never. It is asked on every message, before routing, before the
	// handler and again before the reply (a process pause can fall between
	// any two), so it must answer from the lease's validity at the moment
	// it is called, not from a flag a background tick sets
	// (membership.Membership.Fenced does), and be cheap: no allocation.
	Fenced func() bool
	// IdleTimeout deactivates an activation that received nothing for this long.
	IdleTimeout time.Duration
	// CallTimeout bounds a call whose context has no deadline.
	CallTimeout time.Duration
	// Retry is the backoff between tries of an undelivered call.
	Retry supervisor.Backoff
	// DirectoryTimeout bounds one directory claim or release.
	DirectoryTimeout time.Duration
	// Logger receives structured logs; nil discards.
	Logger *slog.Logger
	// TracerProvider records the spans of grain calls (tracing.go); nil
	// records none, at no cost.
	TracerProvider trace.TracerProvider
	// Metrics counts and times the calls made through this host and reads
	// its activations by kind; nil records nothing.
	Metrics *metrics.Metrics

	// HandlerTimeout bounds one call of a grain's handler (Receive,
	// OnReminder, OnTimer) for kinds that set none
	// (actors.HandlerTimeout): its context ends then, or at the caller's
	// deadline if that comes first.
	HandlerTimeout time.Duration
	// AbandonGrace is how long a handler has to return after its context
	// ended before it counts as hung: its activation is abandoned (the
	// caller answered, what waits refused, the activation replaced) and
	// whatever it stores or answers later is dropped.
	AbandonGrace time.Duration
	// MaxQueued and MaxQueuedBytes bound the requests waiting for one
	// activation, by count and by payload bytes (one request is always
	// taken, whatever its size); past either the call is refused with
	// ErrResourceExhausted (HTTP 429).
	MaxQueued      int
	MaxQueuedBytes int
	// MaxActivations bounds this member's activations; a call that needs
	// a new one past it, with none idle for PressureIdleTimeout to make
	// room, is refused with ErrResourceExhausted (HTTP 429). Singletons
	// are not counted against it.
	MaxActivations int
	// ActivationHighWater is the activation count past which idle
	// activations are deactivated early: each new activation first
	// deactivates the least recently used ones idle for
	// PressureIdleTimeout, instead of waiting out IdleTimeout.
	ActivationHighWater int
	// PressureIdleTimeout is the idle time past which an activation is
	// deactivated early while the member is past ActivationHighWater.
	PressureIdleTimeout time.Duration
}

// DefaultConfig returns the documented defaults for member.
func DefaultConfig(member string) Config {
	return Config{
		Member: member,
		// 5 minutes, like Akka's passivation default magnitude: an idle grain
		// costs memory and a directory entry; reactivating costs one claim.
		IdleTimeout: 5 * time.Minute,
		// 10s matches protoactor's default request time-out.
		CallTimeout: 10 * time.Second,
		// 20ms doubling to 1s with full jitter: a failover takes ~2s, so a few
		// quick tries find the new owner as soon as it exists.
		Retry: supervisor.Backoff{Initial: 20 * time.Millisecond, Multiplier: 2, Max: time.Second, Jitter: supervisor.JitterFull},
		// 5s: a Consul write takes ms; longer means Consul is in trouble and
		// the caller should retry elsewhere.
		DirectoryTimeout: 5 * time.Second,
		// 30s: three times CallTimeout, so no call a caller still waits for
		// with the default deadline is cut short by it, while a grain stuck
		// on a dependency is freed within a minute. Longer work is a task's
		// (attempt time-outs, heartbeats, retries), or sets its own.
		HandlerTimeout: 30 * time.Second,
		// 1s: a handler that honours its context returns within
		// microseconds of its end; a second covers a blocking client's own
		// unwinding (closing a connection) without keeping a hung grain's
		// callers waiting much longer.
		AbandonGrace: time.Second,
		// 1000 requests: at the ~10ms a slow handler takes, that is the
		// default 10s CallTimeout of work; requests queued deeper would
		// expire before their turn anyway.
		MaxQueued: 1000,
		// 16 MiB per grain: 80 requests of 200 KiB, while 1000 small ones
		// fit; a wedged grain's queue holds at most this.
		MaxQueuedBytes: 16 << 20,
		// 100,000: an activation costs ~3 KB of heap (measured: 160,000
		// whoami activations, 466 MB), so ~300 MB at the limit, and in a
		// cluster one Consul KV key each. Size it to the member's memory
		// and the kinds' state.
		MaxActivations: 100_000,
		// 80% of MaxActivations: early deactivation starts with room to
		// spare, so a burst of new identities finds idle ones to replace
		// before it meets the limit.
		ActivationHighWater: 80_000,
		// 10s: under pressure an activation unused for 10s gives way (its
		// next call reactivates it, one claim), where IdleTimeout would
		// keep it 5 minutes.
		PressureIdleTimeout: 10 * time.Second,
	}
}

// Validate reports an unusable configuration.
func (c Config) Validate() error {
	switch {
	case c.Member == "":
		return errors.New("grains: Config.Member is required")
	case c.Registry == nil || c.System == nil || c.Directory == nil:
		return errors.New("grains: Config.Registry, System and Directory are required")
	case c.IdleTimeout <= 0 || c.CallTimeout <= 0 || c.DirectoryTimeout <= 0 || c.HandlerTimeout <= 0 || c.PressureIdleTimeout <= 0:
		return errors.New("grains: time-outs must be positive")
	case c.AbandonGrace < 0:
		return fmt.Errorf("grains: Config.AbandonGrace must not be negative, got %v", c.AbandonGrace)
	case c.MaxQueued < 1 || c.MaxQueuedBytes < 1:
		return fmt.Errorf("grains: Config.MaxQueued (%d) and MaxQueuedBytes (%d) must be at least 1", c.MaxQueued, c.MaxQueuedBytes)
	case c.MaxActivations < 1 || c.ActivationHighWater < 1 || c.ActivationHighWater > c.MaxActivations:
		return fmt.Errorf("grains: Config.ActivationHighWater (%d) must be 1 to MaxActivations (%d)", c.ActivationHighWater, c.MaxActivations)
	}
	return c.Retry.Validate()
}
