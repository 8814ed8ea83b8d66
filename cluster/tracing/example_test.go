package tracing_test

import (
	"context"
	"fmt"

	"github.com/granary-rt/granary/cluster/tracing"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// A member builds its provider from the environment (off unless an OTEL_*
// variable asks), and a trace crosses from one member to another in a
// message's trace_context map.
func Example() {
	ctx := context.Background()
	cfg := tracing.DefaultConfig()
	cfg.Instance = "node-1" // the member id
	p, err := tracing.New(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer p.Shutdown(ctx)       // flushes queued spans when on
	var tp trace.TracerProvider // what the node's parts get: nil while off
	if p.Enabled() {
		tp = p
	}
	_ = tp

	// Two members, each with its own provider (tests inject one that
	// records in memory; node.Config.TracerProvider).
	spans := tracetest.NewSpanRecorder()
	caller := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	callee := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	ctx, call := caller.Tracer("example").Start(ctx, "grain.call")
	carrier := tracing.Inject(ctx) // into GrainRequest.trace_context
	call.End()

	_, receive := callee.Tracer("example").Start(tracing.Extract(context.Background(), carrier), "grain.receive")
	receive.End()

	ended := spans.Ended()
	fmt.Println("one trace:", ended[0].SpanContext().TraceID() == ended[1].SpanContext().TraceID())
	fmt.Println("receive's parent is the call:", ended[1].Parent().SpanID() == ended[0].SpanContext().SpanID())
	fmt.Println("off: carrier of an untraced context:", tracing.Inject(context.Background()) == nil)
	// Output:
	// one trace: true
	// receive's parent is the call: true
	// off: carrier of an untraced context: true
}
