// Package metrics is a Granary member's Prometheus instrumentation: one
// registry per member (never Prometheus' global default registry, since
// several members can share a process, as tests run them), with Go's
// runtime and process collectors and Granary's instruments, served at
// GET /metrics on the member's HTTP address.
//
//	m := metrics.New(metrics.DefaultConfig())
//	st := m.Store(boltStore)                     // every store operation counted and timed
//	m.Task("resize").AttemptStarted()            // one atomic add
//	m.ReadFenced(membership.Fenced)              // read when Prometheus scrapes
//	http.Handle("/metrics", m.Handler())
//
// A nil *Metrics records nothing and costs a nil check: that is how a
// node runs with metrics off (node.Config.Metrics false). Instruments are
// injected through each package's Config, never reached as globals.
//
// # Names
//
// Names follow Prometheus' conventions: a granary_ prefix, _total on
// counters, base units (_seconds), and labels of low cardinality only:
// kind, outcome, cause, directive, strategy, state, health, code, op,
// route, endpoint — never a task id, grain identity or raw path.
//
//	granary_tasks_submitted_total{kind}                       tasks created by submits here
//	granary_task_attempts_started_total{kind}                 attempts started here
//	granary_task_attempts_finished_total{kind,outcome}        succeeded, or the failure's cause
//	granary_task_attempt_duration_seconds{kind,outcome}       histogram; succeeded or failed
//	granary_tasks_owned{state}                                unfinished tasks whose actor runs here
//	granary_supervisor_decisions_total{cause,directive}       restart, stop, escalate on failures
//	granary_job_restarts_total{strategy}                      job restarts decided here
//	granary_job_failures_total{strategy}                      jobs that failed
//	granary_failover_tasks_adopted_total{kind}                tasks adopted from members that left
//	granary_failover_adoption_seconds                         histogram: owner lost from the view → adopted
//	granary_grain_calls_total{kind,code}                      grain calls through this member
//	granary_grain_call_duration_seconds{kind}                 histogram, retries included
//	granary_grain_activations{kind}                           activations here
//	granary_members{health}                                   healthy; lost (left the view, not back)
//	granary_member_fenced                                     1 while fenced
//	granary_store_operations_total{op,code}                   task store operations
//	granary_store_operation_duration_seconds{op}              histogram
//	granary_grain_state_operations_total{op,code}             grain state store operations (grains.InstrumentState)
//	granary_grain_state_operation_duration_seconds{op}        histogram
//	granary_consul_requests_total{endpoint,code}              Consul round trips
//	granary_consul_request_duration_seconds{endpoint}         histogram, blocking queries excluded
//	granary_http_requests_total{route,code}                   API requests by route pattern
//	granary_http_request_duration_seconds{route}              histogram
//	go_*, process_*                                           the runtime and process collectors
//
// # Cost
//
// Hot paths pay an atomic add: a kind's label children are resolved once
// (Task, Grain) and the store's at New. A grain call, the hottest record,
// adds to its P's shard of the kind's counters and histogram (sharded.go),
// so cores recording at once do not contend; a scrape sums the shards
// into client_golang's const metrics, the same exposition. Gauges (owned tasks, activations,
// members, fenced) are read from their owners at scrape time (Read…), so
// the paths that change them pay nothing. `make bench` measures durable
// task and grain call throughput with metrics on and off in one run.
package metrics
