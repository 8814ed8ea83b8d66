// Package tracing gives a Granary member its OpenTelemetry tracer
// provider, configured by OpenTelemetry's standard environment variables,
// and the helpers that carry a trace from one member to the next.
//
// Tracing is off unless the environment asks for it: New then returns a
// no-op provider, no exporter and no goroutine, and the packages that
// trace (tasks, grains, httpapi) are given no provider at all, so their
// hot paths skip every span (not even a context is allocated). It is on
// when
//
//   - OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is
//     set (spans go there over OTLP/HTTP, protobuf), or
//   - OTEL_TRACES_EXPORTER=otlp (to http://localhost:4318 unless an
//     endpoint says otherwise).
//
// OTEL_TRACES_EXPORTER=none and OTEL_SDK_DISABLED=true turn it off whatever
// else is set. The SDK reads the rest itself: OTEL_SERVICE_NAME (default
// here: "granary") and OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG (default parentbased_always_on: a request that
// arrives with a sampled traceparent is traced, one that arrives unsampled
// is not), OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION and
// _CERTIFICATE, and the batch processor's OTEL_BSP_*. A value New cannot
// honour (another exporter or protocol, an unknown sampler) is an error
// wrapping ErrUnsupported, not a silent fallback.
//
//	cfg := tracing.DefaultConfig()
//	cfg.Instance = "node-1" // the member id
//	p, err := tracing.New(ctx, cfg)
//	if err != nil {
//		return err
//	}
//	defer p.Shutdown(context.Background()) // flushes the spans still queued
//	var tp trace.TracerProvider            // nil: tracing off
//	if p.Enabled() {
//		tp = p
//	}
//
// OTEL_PROPAGATORS is not read: the members of a cluster must agree on
// the format, and W3C is what the API and the messages carry.
//
// Nothing here is process-global: no otel.SetTracerProvider, no global
// propagator. Each member has its own provider, so several members in one
// process (as tests run them) keep their spans apart.
//
// # Across members
//
// The trace context travels as W3C Trace Context (traceparent,
// tracestate) plus W3C Baggage: in HTTP headers (the API accepts them, the
// Go client sends them) and, between members, in the trace_context map of
// the protobuf messages (Inject, Extract). A task stores the trace
// context of its submit in its record (ForRecord: traceparent and
// tracestate only, bounded), so its attempts continue the submit's trace
// on whichever member runs them, after a failover too.
package tracing
