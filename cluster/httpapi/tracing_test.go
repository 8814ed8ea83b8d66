package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/granary-rt/granary/cluster/httpapi"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestTrace: a request is served in a server span named by its route,
// the child of the traceparent it carries, with its status; /healthz is
// not traced; an unrouted path does not name a span after itself.
func TestTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	cfg := httpapi.DefaultConfig()
	cfg.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	srv := httptest.NewServer(httpapi.New(nil, cfg))
	defer srv.Close()
	get := func(path, traceparent string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if traceparent != "" {
			req.Header.Set("traceparent", traceparent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get("/v1/members", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	get("/healthz", "")
	get("/no/such/route/id-123", "")

	ended := rec.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d spans, want 2 (/healthz untraced)", len(ended))
	}
	s := ended[0]
	if s.Name() != "GET /v1/members" || s.SpanKind() != trace.SpanKindServer {
		t.Fatalf("span %q kind %v", s.Name(), s.SpanKind())
	}
	if s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent().SpanID().String() != "00f067aa0ba902b7" || !s.Parent().IsRemote() {
		t.Fatalf("span not the traceparent's child: trace %s parent %s", s.SpanContext().TraceID(), s.Parent().SpanID())
	}
	status := ""
	for _, kv := range s.Attributes() {
		if kv.Key == "http.status_code" {
			status = kv.Value.Emit()
		}
	}
	if status != "404" { // no Members configured
		t.Fatalf("http.status_code %q", status)
	}
	if n := ended[1].Name(); n != "GET" {
		t.Fatalf("an unrouted request's span is named %q, want the method alone", n)
	}
}
