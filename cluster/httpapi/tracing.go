package httpapi

import (
	"net/http"
	"strings"

	"github.com/granary-rt/granary/cluster/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Trace wraps next so that every request but /healthz and /metrics
// (polled every few seconds by Consul and Prometheus: thousands of spans a
// day that say nothing) is served inside a server span named by its route
// ("POST /v1/tasks"), the child of the W3C traceparent the request
// carries, if any, and the parent of whatever the request does (a task's
// submit, a grain call). A nil tp returns next itself: tracing off costs
// nothing.
func Trace(tp trace.TracerProvider, next http.Handler) http.Handler {
	tracer := tracing.Tracer(tp, "cluster/httpapi")
	if tracer == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" {
			next.ServeHTTP(w, r)
			return
		}
		ctx := tracing.Propagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.method", r.Method), attribute.String("url.path", r.URL.Path)))
		defer span.End()
		sw := &traceWriter{ResponseWriter: w, status: http.StatusOK}
		outer := r
		r = r.WithContext(ctx)
		next.ServeHTTP(sw, r)
		outer.Pattern = r.Pattern // the route, for the middleware outside (metrics)
		// The mux names the route on the request it served: the span's
		// name is the route, never the path (which holds ids); a request
		// no route took (the catch-all "/") keeps the method alone.
		if r.Pattern != "" && r.Pattern != "/" {
			span.SetName(r.Pattern)
			span.SetAttributes(attribute.String("http.route", strings.TrimPrefix(r.Pattern, r.Method+" ")))
		}
		span.SetAttributes(attribute.Int("http.status_code", sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
	})
}

// traceWriter remembers the answer's status for the span.
type traceWriter struct {
	http.ResponseWriter
	status int
}

func (t *traceWriter) WriteHeader(code int) { t.status = code; t.ResponseWriter.WriteHeader(code) }

// Flush passes a flush on (long polls, event streams).
func (t *traceWriter) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (flushes of
// long polls and event streams).
func (t *traceWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
