package metrics

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds one member's instruments and the registry that exposes
// them. A nil *Metrics is valid and records nothing: every method, and
// every method of the instruments it hands out, is a no-op on nil.
type Metrics struct {
	reg *prometheus.Registry

	tasksSubmitted   *prometheus.CounterVec
	attemptsStarted  *prometheus.CounterVec
	attemptsFinished *prometheus.CounterVec
	attemptDuration  *prometheus.HistogramVec
	decisions        *prometheus.CounterVec
	jobRestarts      *prometheus.CounterVec
	jobFailures      *prometheus.CounterVec
	adopted          *prometheus.CounterVec
	adoption         prometheus.Histogram

	grains        *shardedFamily // granary_grain_calls_total and granary_grain_call_duration_seconds
	grainRefusals *prometheus.CounterVec
	hungHandlers  *readAtScrape

	store *opInstruments
	state *opInstruments // the grain state store's (grainstate.go)

	consulRequests  *prometheus.CounterVec
	consulDuration  *prometheus.HistogramVec
	consulEndpoints *labelled

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpRoutes   *labelled

	ownedTasks, activations, members, fenced, abandoned *readAtScrape

	taskKinds  sync.Map   // kind -> *TaskKind
	grainKinds sync.Map   // kind -> *GrainKind
	grainMu    sync.Mutex // serializes making a GrainKind
}

// New returns a member's instruments on a registry of their own, with Go's
// runtime and process collectors. An empty bucket list takes
// DefaultConfig's (so the zero Config works); New panics only if cfg is
// otherwise invalid (Validate first to get an error).
func New(cfg Config) *Metrics {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	m := &Metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	}
	m.tasksSubmitted = counter("granary_tasks_submitted_total", "Tasks created by submits to this member (a resubmitted id is not counted again).", "kind")
	m.attemptsStarted = counter("granary_task_attempts_started_total", "Task attempts started on this member.", "kind")
	m.attemptsFinished = counter("granary_task_attempts_finished_total", "Task attempts ended on this member, by outcome: succeeded, or the failure's cause (error, panic, attempt_timeout, heartbeat_timeout, member_lost, deadline_exceeded, cancelled).", "kind", "outcome")
	m.attemptDuration = histogram("granary_task_attempt_duration_seconds", "How long task attempts ran on this member, by outcome (succeeded or failed).", cfg.AttemptBuckets, "kind", "outcome")
	m.decisions = counter("granary_supervisor_decisions_total", "Supervisor decisions on failed attempts, by the failure's cause and the directive (restart is a restart).", "cause", "directive")
	m.jobRestarts = counter("granary_job_restarts_total", "Job restarts decided on this member, by the job's strategy.", "strategy")
	m.jobFailures = counter("granary_job_failures_total", "Jobs that failed (restart budget spent) on this member, by strategy.", "strategy")
	m.adopted = counter("granary_failover_tasks_adopted_total", "Tasks of members that left the cluster claimed by this member.", "kind")
	m.adoption = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "granary_failover_adoption_seconds",
		Help:    "Seconds from this member's view losing a task's owner to this member taking up the task (the owner's detection, its lease TTL or health check, comes before).",
		Buckets: cfg.AdoptionBuckets})
	m.grains = newShardedFamily("granary_grain_calls_total", "Grain calls made through this member, by kind and outcome code.",
		"granary_grain_call_duration_seconds", "Latency of grain calls made through this member, retries included.",
		"kind", callCodeNames[:], cfg.CallBuckets)
	m.grainRefusals = counter("granary_grain_refusals_total", "Grain work this member refused or cut short, by kind and reason: expired (the caller's deadline passed before its turn; not run), queue_full (the grain's queue was at its bound), activation_limit (the member was at its limit of activations), evicted (an idle activation deactivated early under pressure), abandoned (a handler that did not return after its context ended).", "kind", "reason")
	m.hungHandlers = newReadAtScrape("granary_grain_hung_handlers", "Abandoned grain handlers still running on this member (each holds a goroutine and what it references until it returns).")
	m.store = newOpInstruments("granary_store", "Task store", opNames[:], opWatch, cfg.StoreBuckets)
	m.state = newOpInstruments("granary_grain_state", "Grain state store (durable grains' state and reminder index)", stateOpNames[:], int(StateWatchReminders), cfg.StoreBuckets)
	m.consulRequests = counter("granary_consul_requests_total", "HTTP round trips to Consul, by endpoint (/v1/kv, /v1/txn, ...) and status code (error: no answer).", "endpoint", "code")
	m.consulDuration = histogram("granary_consul_request_duration_seconds", "Latency of Consul round trips, blocking queries (?index=) excluded.", cfg.StoreBuckets, "endpoint")
	m.httpRequests = counter("granary_http_requests_total", "HTTP API requests, by route pattern and status code.", "route", "code")
	m.httpDuration = histogram("granary_http_request_duration_seconds", "Latency of HTTP API requests (long polls included), by route pattern.", cfg.HTTPBuckets, "route")
	m.consulEndpoints = &labelled{counter: m.consulRequests, histogram: m.consulDuration}
	m.httpRoutes = &labelled{counter: m.httpRequests, histogram: m.httpDuration}
	m.ownedTasks = newReadAtScrape("granary_tasks_owned", "Unfinished tasks whose actor runs on this member, by state.", "state")
	m.activations = newReadAtScrape("granary_grain_activations", "Grain activations on this member, by kind.", "kind")
	m.members = newReadAtScrape("granary_members", "Cluster members as this member sees them, by health (healthy; lost: left the view in the last 15 minutes and not back).", "health")
	m.abandoned = newReadAtScrape("granary_task_attempts_abandoned", "Task attempts on this member that ended (time-out, cancel, restart) while their handler had not returned, by kind: goroutines of handlers that ignore their context. Past a cap (per kind, per member) attempts wait.", "kind")
	m.fenced = newReadAtScrape("granary_member_fenced", "1 while this member is fenced (its lease with Consul lapsed; it runs nothing), else 0.")
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.tasksSubmitted, m.attemptsStarted, m.attemptsFinished, m.attemptDuration, m.decisions,
		m.jobRestarts, m.jobFailures, m.adopted, m.adoption, m.grains, m.grainRefusals, m.hungHandlers,
		m.store.ops, m.store.duration, m.state.ops, m.state.duration, m.consulRequests, m.consulDuration, m.httpRequests, m.httpDuration,
		m.ownedTasks, m.activations, m.members, m.fenced, m.abandoned,
	)
	return m
}

// Registry is the member's registry: an application may register its own
// collectors on it, and they are served at /metrics with Granary's.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the registry in Prometheus' exposition formats; nil
// answers 404 (metrics are off).
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gauges are read when Prometheus scrapes, from the state's owner, so
// the paths that change that state pay nothing for them. Each Read…
// replaces the previous reader; without one the family has no series.

// ReadOwnedTasks sets what reports the tasks owned by state.
func (m *Metrics) ReadOwnedTasks(f func(report func(state string, n int))) {
	if m != nil {
		m.ownedTasks.set(f)
	}
}

// ReadAbandonedAttempts sets what reports the abandoned task attempts by
// kind.
func (m *Metrics) ReadAbandonedAttempts(f func(report func(kind string, n int))) {
	if m != nil {
		m.abandoned.set(f)
	}
}

// ReadActivations sets what reports the grain activations by kind.
func (m *Metrics) ReadActivations(f func(report func(kind string, n int))) {
	if m != nil {
		m.activations.set(f)
	}
}

// ReadMembers sets what reports the members by health.
func (m *Metrics) ReadMembers(f func(report func(health string, n int))) {
	if m != nil {
		m.members.set(f)
	}
}

// ReadFenced sets what reports whether this member is fenced.
func (m *Metrics) ReadFenced(fenced func() bool) {
	if m == nil {
		return
	}
	m.fenced.set(func(report func(string, int)) {
		v := 0
		if fenced() {
			v = 1
		}
		report("", v)
	})
}
