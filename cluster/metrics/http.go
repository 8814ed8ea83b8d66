package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"
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
		m.httpRequests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		m.httpDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
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
		endpoint := consulEndpoint(r.URL.Path)
		code := "error"
		if err == nil {
			code = strconv.Itoa(resp.StatusCode)
		}
		m.consulRequests.WithLabelValues(endpoint, code).Inc()
		if !r.URL.Query().Has("index") {
			m.consulDuration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
		}
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// consulEndpoint is "/v1/kv" of "/v1/kv/granary/x/tasks/t1": the first two
// segments (three under /v1/agent, /v1/health, /v1/session, /v1/catalog,
// whose second segment is the operation: /v1/health/service).
func consulEndpoint(path string) string {
	segs := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 4)
	switch {
	case len(segs) < 2 || segs[0] != "v1":
		return "other"
	case len(segs) >= 3 && (segs[1] == "agent" || segs[1] == "health" || segs[1] == "session" || segs[1] == "catalog" || segs[1] == "status"):
		return "/v1/" + segs[1] + "/" + segs[2]
	}
	return "/v1/" + segs[1]
}
