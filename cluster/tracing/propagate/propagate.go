// Package propagate holds the trace propagator Granary uses on every
// hop: W3C Trace Context (traceparent, tracestate) and W3C Baggage. It
// imports OpenTelemetry's API only, not its SDK or exporters, so the Go
// client can carry a caller's trace context to a node without them;
// package tracing builds on it.
//
//	propagate.Propagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
package propagate

import "go.opentelemetry.io/otel/propagation"

// propagator holds no state, so one serves every member of a process.
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Propagator is the propagator of HTTP headers and message carriers: W3C
// Trace Context (traceparent, tracestate) and W3C Baggage.
func Propagator() propagation.TextMapPropagator { return propagator }
