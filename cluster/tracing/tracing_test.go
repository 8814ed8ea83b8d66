package tracing

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otelVars are the variables New reads; each test sets all of them, so
// the environment of the process running the tests does not leak in.
var otelVars = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
	"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
}

func clearEnv(t *testing.T) {
	for _, k := range otelVars {
		t.Setenv(k, "")
	}
}

func TestEnabled(t *testing.T) {
	cases := []struct {
		name   string
		env    map[string]string
		on     bool
		unsupp bool
	}{
		{name: "nothing set: off", env: nil},
		{name: "endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: true},
		{name: "traces endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, on: true},
		{name: "exporter otlp, default endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, on: true},
		{name: "exporter none wins over an endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}},
		{name: "sdk disabled wins", env: map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}},
		{name: "sdk disabled false", env: map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, on: true},
		{name: "exporter jaeger unsupported", env: map[string]string{"OTEL_TRACES_EXPORTER": "jaeger"}, unsupp: true},
		{name: "grpc unsupported", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, unsupp: true},
		{name: "traces protocol decides", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, on: true},
		{name: "grpc while off is no error", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}},
		{name: "ratio sampler", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}, on: true},
		{name: "bad ratio", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, unsupp: true},
		{name: "unknown sampler", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "sometimes"}, unsupp: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			on, err := enabled(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
			if c.unsupp != errors.Is(err, ErrUnsupported) {
				t.Fatalf("err = %v, want unsupported %v", err, c.unsupp)
			}
			if on != c.on {
				t.Fatalf("on = %v, want %v", on, c.on)
			}
		})
	}
}

// sdkGoroutines counts the goroutines of the SDK's batch span processor.
func sdkGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "sdk/trace.(*batchSpanProcessor)")
}

// TestOffByDefault: with no OTEL_* variable, New builds a no-op provider:
// no exporter goroutine, spans that record nothing, nothing to flush.
func TestOffByDefault(t *testing.T) {
	clearEnv(t)
	before := sdkGoroutines()
	p, err := New(context.Background(), Config{ServiceName: "granary", Instance: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Enabled() {
		t.Fatal("tracing on with no OTEL_* variable set")
	}
	if n := sdkGoroutines(); n != before {
		t.Fatalf("%d batch span processor goroutines, %d before New", n, before)
	}
	_, span := p.Tracer("t").Start(context.Background(), "x")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Fatal("the off provider made a real span")
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// receiver is a minimal OTLP/HTTP collector: it keeps the spans posted
// to /v1/traces.
type receiver struct {
	mu    sync.Mutex
	reqs  []*coltrace.ExportTraceServiceRequest
	paths []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	m := &coltrace.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(body, m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.reqs, r.paths = append(r.reqs, m), append(r.paths, req.URL.Path)
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// spans lists what the receiver got: span name -> service.name.
func (r *receiver) spans() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for _, req := range r.reqs {
		for _, rs := range req.GetResourceSpans() {
			svc := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.GetKey() == "service.name" {
					svc = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					out[s.GetName()] = svc
				}
			}
		}
	}
	return out
}

// TestExportsOverOTLP: OTEL_EXPORTER_OTLP_ENDPOINT turns tracing on; the
// spans reach the collector over OTLP/HTTP at /v1/traces, named by
// OTEL_SERVICE_NAME, at the latest when Shutdown flushes them; then the
// exporter's goroutine is gone.
func TestExportsOverOTLP(t *testing.T) {
	clearEnv(t)
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "granary-test")
	before := sdkGoroutines()
	p, err := New(context.Background(), Config{ServiceName: "granary", Instance: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Enabled() {
		t.Fatal("tracing off with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	_, span := p.Tracer("t").Start(context.Background(), "exported")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rcv.spans(); got["exported"] != "granary-test" {
		t.Fatalf("the collector got %v (paths %v), want span exported of service granary-test", got, rcv.paths)
	}
	if rcv.paths[0] != "/v1/traces" {
		t.Fatalf("posted to %s", rcv.paths[0])
	}
	if n := sdkGoroutines(); n != before {
		t.Fatalf("%d batch span processor goroutines after Shutdown, %d before New", n, before)
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// TestSamplerFromEnv: OTEL_TRACES_SAMPLER=always_off reaches the SDK.
func TestSamplerFromEnv(t *testing.T) {
	clearEnv(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1") // never dialled: nothing is sampled
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
	p, err := New(context.Background(), Config{ServiceName: "granary", Instance: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	_, span := p.Tracer("t").Start(context.Background(), "x")
	if span.IsRecording() || span.SpanContext().IsSampled() {
		t.Fatal("always_off sampled a span")
	}
}

func TestUnsupportedIsAnError(t *testing.T) {
	clearEnv(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "zipkin")
	if _, err := New(context.Background(), Config{ServiceName: "granary", Instance: "m1"}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
}

func remote(t *testing.T, traceparent string) context.Context {
	t.Helper()
	ctx := Extract(context.Background(), map[string]string{"traceparent": traceparent})
	if !trace.SpanContextFromContext(ctx).IsValid() {
		t.Fatalf("%s did not parse", traceparent)
	}
	return ctx
}

const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestCarrier(t *testing.T) {
	if c := Inject(context.Background()); c != nil {
		t.Fatalf("Inject without a span = %v, want nil", c)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Inject(context.Background()) }); n != 0 {
		t.Fatalf("Inject without a span allocates %v times", n)
	}
	ctx := remote(t, parent)
	b, _ := baggage.Parse("tenant=blue")
	ctx = baggage.ContextWithBaggage(ctx, b)
	c := Inject(ctx)
	if c["traceparent"] != parent || c["baggage"] != "tenant=blue" {
		t.Fatalf("Inject = %v", c)
	}
	back := Extract(context.Background(), c)
	if trace.SpanContextFromContext(back).TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" ||
		baggage.FromContext(back).Member("tenant").Value() != "blue" {
		t.Fatalf("Extract lost the trace or the baggage: %v", c)
	}
	if got := Extract(context.Background(), map[string]string{"traceparent": "garbage"}); trace.SpanContextFromContext(got).IsValid() {
		t.Fatal("a malformed traceparent became a parent")
	}
}

func TestForRecord(t *testing.T) {
	rec := ForRecord(map[string]string{"traceparent": parent, "tracestate": "k=v", "baggage": "tenant=blue", "other": "x"})
	if len(rec) != 2 || rec["traceparent"] != parent || rec["tracestate"] != "k=v" {
		t.Fatalf("ForRecord = %v, want traceparent and tracestate only", rec)
	}
	if rec := ForRecord(map[string]string{"traceparent": "00-zz"}); rec != nil {
		t.Fatalf("ForRecord of a malformed traceparent = %v", rec)
	}
	long := make([]string, 30)
	for i := range long {
		long[i] = "k" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "=" + strings.Repeat("v", 40)
	}
	rec = ForRecord(map[string]string{"traceparent": parent, "tracestate": strings.Join(long, ",")})
	if rec["traceparent"] != parent || rec["tracestate"] != "" {
		t.Fatalf("a tracestate over 512 bytes was kept: %v", rec)
	}
}
