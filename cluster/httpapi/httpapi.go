// Package httpapi serves Granary's HTTP/JSON API (see package api for the
// shapes) over a task service such as *tasks.Manager.
//
//	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: httpapi.New(manager, httpapi.DefaultConfig())}
//
// RequireTokens puts bearer tokens with read and write roles in front of
// it (RoleFor says which route needs which); GuardBrowsers refuses what a
// web page of another site could make a browser send it (cross-origin
// writes, DNS rebinding onto a loopback node without tokens).
package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/internal/logevery"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/messages"
)

// TaskService is what the API needs of a task manager.
type TaskService interface {
	Submit(ctx context.Context, sub tasks.Submission) (store.Record, bool, error)
	Get(ctx context.Context, id string) (store.Record, error)
	Wait(ctx context.Context, id string, after uint64) (store.Record, error)
	Find(ctx context.Context, f store.Filter) ([]store.Record, error)
	Cancel(ctx context.Context, id, reason string) (store.Record, error)
	Restart(ctx context.Context, id, reason, requestID string) (store.Record, error)
	Retry(ctx context.Context, id, reason, requestID string) (store.Record, error)
	RetryMany(ctx context.Context, f tasks.RetryFilter, reason string, dryRun bool) ([]string, map[string]error, bool, error)
	Job(ctx context.Context, id string) ([]store.Record, tasks.JobSummary, error)
	Member() string
}

// GrainService calls grains for POST /v1/grains/{kind}/{id}. requestID
// (?request_id=, kept by the client across its retries) makes a durable
// grain apply the call once.
type GrainService interface {
	CallOnce(ctx context.Context, kind, identity, requestID string, payload []byte) (*messages.GrainResponse, error)
}

type handler struct {
	svc   TaskService
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	admit *admission
	reads byteBudget // page reads in flight (list.go)
	// unavailable limits the log lines of 503 and 504 answers.
	unavailable logevery.Limiter
}

// New returns the API handler. A nil svc serves no task routes (a cluster
// node before durable tasks reach it).
func New(svc TaskService, cfg Config) http.Handler {
	cfg = cfg.withDefaults()
	h := &handler{svc: svc, cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), admit: newAdmission(cfg), unavailable: logevery.Limiter{Period: unavailableLogEvery}}
	h.reads.max = h.cfg.MaxReadBytesInFlight
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if svc != nil {
		h.mux.HandleFunc("POST /v1/tasks", h.submit)
		h.mux.HandleFunc("POST /v1/tasks:batch", h.submitBatch)
		h.mux.HandleFunc("GET /v1/tasks", h.list)
		h.mux.HandleFunc("GET /v1/tasks/{id}", h.get)
		h.mux.HandleFunc("DELETE /v1/tasks/{id}", h.cancel)
		h.mux.HandleFunc("POST /v1/tasks/{id}/restart", h.restart)
		h.mux.HandleFunc("POST /v1/tasks/{id}/retry", h.retry) // retry.go
		h.mux.HandleFunc("POST /v1/tasks:retry", h.retryMany)
		h.mux.HandleFunc("GET /v1/jobs/{id}/tasks", h.jobTasks)
		h.jobRoutes()
		if h.cfg.Member == "" {
			h.cfg.Member = svc.Member()
		}
	}
	h.mux.HandleFunc("GET /healthz", h.health)
	h.mux.HandleFunc("POST /v1/grains/{kind}/{id}", h.grain)
	h.mux.HandleFunc("GET /v1/grains/{kind}/{id}/state", h.grainState)
	h.mux.HandleFunc("DELETE /v1/grains/{kind}/{id}/state", h.clearGrainState)
	h.mux.HandleFunc("GET /v1/members", h.members)
	h.mux.HandleFunc("GET /v1/kinds", h.kinds)
	h.scheduleRoutes()
	h.consoleRoutes()
	h.mux.HandleFunc("/", h.noRoute)
	return Trace(cfg.TracerProvider, h)
}

// methods are the methods noRoute tries on a path to tell 405 from 404.
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// noRoute answers a request no route took: 405 with the methods the path
// takes (Allow) if it names a route, else 404. ServeMux would answer 405
// itself, but the catch-all route that gives 404s this API's error body
// takes every method first.
func (h *handler) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range methods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		h.fail(w, r, fmt.Errorf("%w: no route for %s %s", api.ErrNotFound, r.Method, r.URL.Path))
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	h.reply(w, http.StatusMethodNotAllowed, api.ErrorBody{Error: api.ErrorDetail{Code: CodeMethodNotAllowed,
		Message: fmt.Sprintf("%s %s: the method is not allowed; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", "))}})
}

// CodeMethodNotAllowed is the error code of a 405 answer.
const CodeMethodNotAllowed = "method_not_allowed"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	if release, why, ok := h.admit.admit(r); ok {
		defer release()
		h.mux.ServeHTTP(sw, r)
	} else {
		h.refuse(sw, r, why)
	}
	h.log.Debug("http", "method", r.Method, "path", r.URL.Path, "status", sw.status, "took", time.Since(start))
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }
