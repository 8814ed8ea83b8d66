package tracing

import (
	"context"

	"github.com/granary-rt/granary/cluster/tracing/propagate"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// propagator is W3C Trace Context and W3C Baggage (package propagate).
var propagator = propagate.Propagator()

// Propagator is the propagator of HTTP headers and message carriers: W3C
// Trace Context (traceparent, tracestate) and W3C Baggage.
func Propagator() propagation.TextMapPropagator { return propagator }

// Inject returns the trace context of ctx as the trace_context map of a
// protobuf message. Nil, without allocating, when ctx carries no span
// context (tracing off).
func Inject(ctx context.Context) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c
}

// Extract returns ctx with the trace context of a message's carrier (its
// span context as the remote parent, and its baggage); ctx itself when
// the carrier is empty. A malformed traceparent is ignored, as the W3C
// specification asks: the carrier may come from any peer.
func Extract(ctx context.Context, carrier map[string]string) context.Context {
	if len(carrier) == 0 {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier(carrier))
}

// maxTraceState bounds the tracestate kept in a record: the W3C
// specification asks vendors to propagate at least 512 characters.
const maxTraceState = 512

// ForRecord is the part of a carrier a task record keeps: a valid
// traceparent, re-encoded, and its tracestate if within 512 bytes;
// baggage is left out (a record is bounded, and baggage is the request's,
// not the task's). Nil when the carrier has no valid traceparent.
func ForRecord(carrier map[string]string) map[string]string {
	if len(carrier) == 0 {
		return nil
	}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier(carrier)))
	if !sc.IsValid() {
		return nil
	}
	if len(sc.TraceState().String()) > maxTraceState {
		sc = sc.WithTraceState(trace.TraceState{})
	}
	out := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithRemoteSpanContext(context.Background(), sc), out)
	return out
}

// Tracer returns tp's tracer for a Granary package, or nil when tp is nil
// (tracing off): the packages skip their spans on a nil tracer.
func Tracer(tp trace.TracerProvider, pkg string) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer("github.com/granary-rt/granary/" + pkg)
}
