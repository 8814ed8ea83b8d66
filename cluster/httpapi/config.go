package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/tasks"
	"go.opentelemetry.io/otel/trace"
)

// Config configures the API handler.
type Config struct {
	// Member names this node in /healthz when there is no task service.
	Member string
	// Grains serves grain calls; nil answers them 404.
	Grains GrainService
	// GrainState reads and clears durable grains' state (GET and DELETE
	// /v1/grains/{kind}/{id}/state); nil answers them 404.
	GrainState grains.StateStore
	// Members lists the cluster for GET /v1/members; nil answers 404.
	// Without activations, it skips asking each member for its grain
	// activation count (reported as -1): clients that route submits ask
	// often and need only the members and their kinds.
	Members func(ctx context.Context, activations bool) ([]api.Member, error)
	// Activations counts this member's grain activations for /healthz.
	Activations func() int
	// Registry holds the kinds GET /v1/kinds lists; nil answers it 404.
	Registry *actors.Registry
	// Kinds names the kinds of Registry this node hosts (nil: all).
	Kinds []string
	// Logger receives one debug line per request and errors; nil discards.
	Logger *slog.Logger
	// Health checks the node for GET /healthz; nil always answers ok.
	Health func(ctx context.Context) error
	// MaxWait caps ?wait= on long polls (0: DefaultConfig's).
	MaxWait time.Duration
	// MaxBodyBytes caps request bodies (0: DefaultConfig's).
	MaxBodyBytes int64
	// MaxBatchBytes caps the body of a batch of submits (0:
	// DefaultConfig's).
	MaxBatchBytes int64
	// MaxInflight bounds the requests served at once, long polls aside;
	// past it the node answers 429 with Retry-After (0: no bound).
	MaxInflight int
	// MaxWaiters bounds the long polls (?wait=, ?index=) held at once (0:
	// no bound).
	MaxWaiters int
	// MaxBodyBytesInFlight bounds the bytes of the request bodies being
	// served at once (each counts its Content-Length, or its route's limit
	// when chunked); past it the node answers 429 (0: no bound).
	MaxBodyBytesInFlight int64
	// MaxPageBytes is the byte budget of a page of tasks (GET /v1/tasks, a
	// job's tasks): a page ends before the task that would take it past
	// the budget, with a cursor for the rest (0: DefaultConfig's).
	MaxPageBytes int64
	// MaxReadBytesInFlight bounds what the page reads being served may
	// hold at once: each reserves MaxPageBytes and a chunk of records at
	// their largest; past it the node answers 429 (0: no bound).
	MaxReadBytesInFlight int64
	// RetryAfter is what a 429 tells the client to wait (whole seconds; 0:
	// one second).
	RetryAfter time.Duration
	// TracerProvider serves each request in a span (Trace); nil: no spans.
	TracerProvider trace.TracerProvider
	// Self reports on this member for GET /v1/member; nil answers 404.
	Self func(ctx context.Context) (api.MemberReport, error)
	// Cluster reports on every member for GET /v1/cluster; nil answers 404.
	Cluster func(ctx context.Context) (api.ClusterReport, error)
	// Schedules keeps the recurring schedules (/v1/schedules); nil
	// answers those routes 404.
	Schedules ScheduleService
	// StoreDeadline bounds the store's part of a submit, read, cancel or
	// restart (storedeadline.go): past it the node answers 503 with
	// Retry-After. 0: unbounded.
	StoreDeadline time.Duration
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		// 5 minutes: below the idle time-outs of common proxies and load
		// balancers (AWS ALB: 60s by default, raise it for long polls), and
		// clients simply poll again.
		MaxWait: 5 * time.Minute,
		// A payload may be up to tasks.MaxPayloadBytes; JSON escaping can
		// double it, plus the envelope.
		MaxBodyBytes: 2*tasks.MaxPayloadBytes + 64<<10,
		// 8 MiB: a batch of small tasks is a few kilobytes; this lets a
		// batch carry some large payloads without letting one request pin
		// much memory (api.MaxBatch tasks of the largest payload would
		// not fit; a client sends those alone).
		MaxBatchBytes: 8 << 20,
		// 1024: a node does a few thousand tasks a second on 2 cores, so
		// 1024 in flight is a queue of a few hundred milliseconds; taking
		// more would only make every caller wait longer.
		MaxInflight: 1024,
		// 10,000: a long poll costs a goroutine and a connection, not
		// Consul's (waiters share the store's blocking queries), so many
		// fit; the bound keeps a flood of them from exhausting memory.
		MaxWaiters: 10000,
		// 256 MiB: 32 batches of the largest size, or thousands of typical
		// submits, at once; MaxInflight bodies of MaxBatchBytes each would
		// be 8 GiB, and a node out of memory serves nobody.
		MaxBodyBytesInFlight: 256 << 20,
		// 4 MiB: thousands of typical statuses, or a dozen with long error
		// histories; 0.3 s to send at 100 Mbit/s, so a listing answers
		// quickly and the node holds little per reader. A job of 300
		// tasks with 175 KB results answered 52 MB before pages had a
		// byte budget.
		MaxPageBytes: 4 << 20,
		// 64 MiB: nine page reads at their largest at once (4 MiB of page
		// and 8 records of 360 KiB each, about 6.8 MiB); a read takes
		// milliseconds, so that is many listings a second, and eight
		// readers of a large job can no longer take the heap from 14 MB
		// to 1.6 GB as they did.
		MaxReadBytesInFlight: 64 << 20,
		// 1s: about how long the work in flight takes to drain.
		RetryAfter: time.Second,
		// defaultStoreDeadline says why 4s.
		StoreDeadline: defaultStoreDeadline,
	}
}

// ErrInvalidConfig wraps every error of Config.Validate; it wraps
// errs.ErrInvalidConfig.
var ErrInvalidConfig = errs.New("httpapi: invalid configuration", errs.ErrInvalidConfig)

// Validate reports a negative bound, naming the field and its value: zero
// is the default or no bound (each field says which). New cannot return
// an error, so it takes a negative bound as zero; a caller that builds a
// Config from its own input checks it here first.
func (c Config) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"MaxWait", c.MaxWait}, {"RetryAfter", c.RetryAfter}, {"StoreDeadline", c.StoreDeadline}} {
		if d.v < 0 {
			return fmt.Errorf("%w: %s is %s, want 0 or more", ErrInvalidConfig, d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int64
	}{{"MaxBodyBytes", c.MaxBodyBytes}, {"MaxBatchBytes", c.MaxBatchBytes}, {"MaxInflight", int64(c.MaxInflight)},
		{"MaxWaiters", int64(c.MaxWaiters)}, {"MaxBodyBytesInFlight", c.MaxBodyBytesInFlight}, {"MaxPageBytes", c.MaxPageBytes},
		{"MaxReadBytesInFlight", c.MaxReadBytesInFlight}} {
		if n.v < 0 {
			return fmt.Errorf("%w: %s is %d, want 0 or more", ErrInvalidConfig, n.name, n.v)
		}
	}
	return nil
}

// withDefaults gives the fields whose zero means DefaultConfig's (MaxWait,
// MaxBodyBytes, MaxBatchBytes, MaxPageBytes) that value when they are not
// positive.
func (c Config) withDefaults() Config {
	def := DefaultConfig()
	if c.MaxWait <= 0 {
		c.MaxWait = def.MaxWait
	}
	for _, n := range []struct{ dst, def *int64 }{
		{&c.MaxBodyBytes, &def.MaxBodyBytes}, {&c.MaxBatchBytes, &def.MaxBatchBytes}, {&c.MaxPageBytes, &def.MaxPageBytes},
	} {
		if *n.dst <= 0 {
			*n.dst = *n.def
		}
	}
	return c
}
