package grains_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/examples/kinds"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// benchHost is one member hosting the example kinds, tracing with tp.
func benchHost(b *testing.B, tp trace.TracerProvider) *grains.Host {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	b.Cleanup(sys.Shutdown)
	reg := actors.NewRegistry()
	if err := kinds.Register(reg); err != nil {
		b.Fatal(err)
	}
	cfg := grains.DefaultConfig("m1")
	cfg.Registry, cfg.System, cfg.Directory, cfg.TracerProvider = reg, sys, &grains.LocalDirectory{}, tp
	h, err := grains.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Start(); err != nil {
		b.Fatal(err)
	}
	h.SetView([]grains.Member{{ID: "m1", Addr: sys.Address(), Kinds: h.HostedKinds()}})
	return h
}

// BenchmarkCallTracing is a grain call (caller, router and activation in
// one process) with tracing off (no provider: what a node runs without
// OTEL_* variables), on with a sampler that samples nothing, and on
// recording every span in memory. Off must cost what it cost before
// tracing existed: compare its ns/op and allocs/op with the same call on
// a build without tracing.
func BenchmarkCallTracing(b *testing.B) {
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	always := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
	for _, c := range []struct {
		name string
		tp   trace.TracerProvider
		root bool // the caller traces (as an HTTP request with a traceparent would)
	}{
		{"off", nil, false},
		{"on-sampler-off", never, true},
		{"on-sampled", always, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := benchHost(b, c.tp)
			ctx := context.Background()
			payload := []byte(`{}`)
			if _, err := h.Call(ctx, "whoami", "bench", payload); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cctx, span := ctx, trace.SpanFromContext(ctx)
				if c.root {
					cctx, span = c.tp.Tracer("bench").Start(ctx, "root")
				}
				if _, err := h.Call(cctx, "whoami", "bench", payload); err != nil {
					b.Fatal(err)
				}
				span.End()
			}
		})
	}
}
