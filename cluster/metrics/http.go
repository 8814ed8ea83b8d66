package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// unrouted is the route label of a request answered before any route
// took it (a refused token, say): its path is not a label value, since
// anyone can send any path.
const unrouted = "unrouted"

// HTTP returns next with every request counted and timed by route: the
// pattern of the http.ServeMux route that served it (http.Request.Pattern,
// "GET /v1/tasks/{id}"), never the raw path. Muxes below next must serve
// the request they are given, not a copy, for the pattern to be seen.
// With m nil, next itself.
func (m *Metrics) HTTP(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = unrouted
		}
		m.httpRoutes.get(route).record(sw.status, time.Since(start))
	})
}

// statusWriter remembers the status written; it passes Flush on (long
// polls and server-sent events flush) and Unwrap serves
// http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	w.wroteHeader = true
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Consul returns rt with every round trip to Consul counted and timed by
// endpoint: the path's first two segments after /v1 (/v1/kv, /v1/txn,
// /v1/health/service), never a key. With m nil, rt itself.
func (m *Metrics) Consul(rt http.RoundTripper) http.RoundTripper {
	if m == nil {
		return rt
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := rt.RoundTrip(r)
		status := 0 // no answer: code "error"
		if err == nil {
			status = resp.StatusCode
		}
		ep := m.consulEndpoints.get(consulEndpoint(r.URL.Path))
		if blocking(r.URL.RawQuery) {
			ep.count(status)
		} else {
			ep.record(status, time.Since(start))
		}
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// blocking reports a blocking query (?index=): it waits for a change, so
// its time is not a latency.
func blocking(rawQuery string) bool {
	return strings.HasPrefix(rawQuery, "index=") || strings.Contains(rawQuery, "&index=")
}

// consulEndpoint is "/v1/kv" of "/v1/kv/granary/x/tasks/t1": the first two
// segments (three under /v1/agent, /v1/health, /v1/session, /v1/catalog,
// /v1/status, whose third segment is the operation: /v1/health/service).
// It is a prefix of path: no allocation.
func consulEndpoint(path string) string {
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return "other"
	}
	end := strings.IndexByte(rest, '/')
	if end < 0 {
		end = len(rest)
	}
	if end == 0 {
		return "other"
	}
	switch rest[:end] {
	case "agent", "health", "session", "catalog", "status":
		if end < len(rest) {
			if op := strings.IndexByte(rest[end+1:], '/'); op >= 0 {
				end += 1 + op
			} else {
				end = len(rest)
			}
		}
	}
	return path[:len("/v1/")+end]
}

// labelled are the children of a counter by (label, status code) and of a
// histogram by label, resolved on first use and cached, so a request's
// record is a map read and atomic adds.
type labelled struct {
	counter   *prometheus.CounterVec
	histogram *prometheus.HistogramVec
	by        sync.Map // label value -> *labelChildren
}

type labelChildren struct {
	l     *labelled
	value string
	took  prometheus.Observer
	codes sync.Map // status code (int; 0: no answer) -> prometheus.Counter
}

func (l *labelled) get(value string) *labelChildren {
	if c, ok := l.by.Load(value); ok {
		return c.(*labelChildren)
	}
	c, _ := l.by.LoadOrStore(value, &labelChildren{l: l, value: value, took: l.histogram.WithLabelValues(value)})
	return c.(*labelChildren)
}

func (c *labelChildren) count(status int) {
	if n, ok := c.codes.Load(status); ok {
		n.(prometheus.Counter).Inc()
		return
	}
	code := "error"
	if status > 0 {
		code = strconv.Itoa(status)
	}
	n, _ := c.codes.LoadOrStore(status, c.l.counter.WithLabelValues(c.value, code))
	n.(prometheus.Counter).Inc()
}

func (c *labelChildren) record(status int, took time.Duration) {
	c.count(status)
	c.took.Observe(took.Seconds())
}
