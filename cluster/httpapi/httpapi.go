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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/internal/logevery"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"go.opentelemetry.io/otel/trace"
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

// Config configures the API handler.
type Config struct {
	// Member names this node in /healthz when there is no task service.
	Member string
	// Grains serves grain calls; nil answers them 404.
	Grains GrainService
	// GrainState reads and clears durable grains' state (GET and DELETE
	// /v1/grains/{kind}/{id}/state); nil answers them 404.
	GrainState grains.StateStore
	// Members lists the cluster for GET /v1/members; nil answers 404.
	// Without activations, it skips asking each member for its grain
	// activation count (reported as -1): clients that route submits ask
	// often and need only the members and their kinds.
	Members func(ctx context.Context, activations bool) ([]api.Member, error)
	// Activations counts this member's grain activations for /healthz.
	Activations func() int
	// Registry holds the kinds GET /v1/kinds lists; nil answers it 404.
	Registry *actors.Registry
	// Kinds names the kinds of Registry this node hosts (nil: all).
	Kinds []string
	// Logger receives one debug line per request and errors; nil discards.
	Logger *slog.Logger
	// Health checks the node for GET /healthz; nil always answers ok.
	Health func(ctx context.Context) error
	// MaxWait caps ?wait= on long polls.
	MaxWait time.Duration
	// MaxBodyBytes caps request bodies.
	MaxBodyBytes int64
	// MaxBatchBytes caps the body of a batch of submits.
	MaxBatchBytes int64
	// MaxInflight bounds the requests served at once, long polls aside;
	// past it the node answers 429 with Retry-After (0: no bound).
	MaxInflight int
	// MaxWaiters bounds the long polls (?wait=, ?index=) held at once.
	MaxWaiters int
	// MaxBodyBytesInFlight bounds the bytes of the request bodies being
	// served at once (each counts its Content-Length, or its route's limit
	// when chunked); past it the node answers 429 (0: no bound).
	MaxBodyBytesInFlight int64
	// MaxPageBytes is the byte budget of a page of tasks (GET /v1/tasks, a
	// job's tasks): a page ends before the task that would take it past
	// the budget, with a cursor for the rest (0: DefaultConfig's).
	MaxPageBytes int64
	// MaxReadBytesInFlight bounds what the page reads being served may
	// hold at once: each reserves MaxPageBytes and a chunk of records at
	// their largest; past it the node answers 429 (0: no bound).
	MaxReadBytesInFlight int64
	// RetryAfter is what a 429 tells the client to wait (whole seconds).
	RetryAfter time.Duration
	// TracerProvider serves each request in a span (Trace); nil: no spans.
	TracerProvider trace.TracerProvider
	// Self reports on this member for GET /v1/member; nil answers 404.
	Self func(ctx context.Context) (api.MemberReport, error)
	// Cluster reports on every member for GET /v1/cluster; nil answers 404.
	Cluster func(ctx context.Context) (api.ClusterReport, error)
	// Schedules keeps the recurring schedules (/v1/schedules); nil
	// answers those routes 404.
	Schedules ScheduleService
	// StoreDeadline bounds the store's part of a submit, read, cancel or
	// restart (storedeadline.go): past it the node answers 503 with
	// Retry-After. 0: unbounded.
	StoreDeadline time.Duration
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		// 5 minutes: below the idle time-outs of common proxies and load
		// balancers (AWS ALB: 60s by default, raise it for long polls), and
		// clients simply poll again.
		MaxWait: 5 * time.Minute,
		// A payload may be up to tasks.MaxPayloadBytes; JSON escaping can
		// double it, plus the envelope.
		MaxBodyBytes: 2*tasks.MaxPayloadBytes + 64<<10,
		// 8 MiB: a batch of small tasks is a few kilobytes; this lets a
		// batch carry some large payloads without letting one request pin
		// much memory (api.MaxBatch tasks of the largest payload would
		// not fit; a client sends those alone).
		MaxBatchBytes: 8 << 20,
		// 1024: a node does a few thousand tasks a second on 2 cores, so
		// 1024 in flight is a queue of a few hundred milliseconds; taking
		// more would only make every caller wait longer.
		MaxInflight: 1024,
		// 10,000: a long poll costs a goroutine and a connection, not
		// Consul's (waiters share the store's blocking queries), so many
		// fit; the bound keeps a flood of them from exhausting memory.
		MaxWaiters: 10000,
		// 256 MiB: 32 batches of the largest size, or thousands of typical
		// submits, at once; MaxInflight bodies of MaxBatchBytes each would
		// be 8 GiB, and a node out of memory serves nobody.
		MaxBodyBytesInFlight: 256 << 20,
		// 4 MiB: thousands of typical statuses, or a dozen with long error
		// histories; 0.3 s to send at 100 Mbit/s, so a listing answers
		// quickly and the node holds little per reader. A job of 300
		// tasks with 175 KB results answered 52 MB before pages had a
		// byte budget.
		MaxPageBytes: 4 << 20,
		// 64 MiB: nine page reads at their largest at once (4 MiB of page
		// and 8 records of 360 KiB each, about 6.8 MiB); a read takes
		// milliseconds, so that is many listings a second, and eight
		// readers of a large job can no longer take the heap from 14 MB
		// to 1.6 GB as they did.
		MaxReadBytesInFlight: 64 << 20,
		// 1s: about how long the work in flight takes to drain.
		RetryAfter: time.Second,
		// defaultStoreDeadline says why 4s.
		StoreDeadline: defaultStoreDeadline,
	}
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
	h := &handler{svc: svc, cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), admit: newAdmission(cfg), unavailable: logevery.Limiter{Period: unavailableLogEvery}}
	if h.cfg.MaxBatchBytes <= 0 {
		h.cfg.MaxBatchBytes = DefaultConfig().MaxBatchBytes
	}
	if h.cfg.MaxPageBytes <= 0 {
		h.cfg.MaxPageBytes = DefaultConfig().MaxPageBytes
	}
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

func (h *handler) submit(w http.ResponseWriter, r *http.Request) {
	var req api.SubmitRequest
	if err := h.decode(w, r, &req, h.cfg.MaxBodyBytes); err != nil {
		h.fail(w, r, err)
		return
	}
	wait, err := h.submitWait(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	code, st, err := h.submitOne(r.Context(), req, wait)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, code, st)
}

// submitWait reads ?wait= of a submit, capped at MaxWait.
func (h *handler) submitWait(r *http.Request) (time.Duration, error) {
	s := r.URL.Query().Get("wait")
	if s == "" {
		return 0, nil
	}
	wait, err := time.ParseDuration(s)
	if err != nil || wait < 0 {
		return 0, fmt.Errorf("%w: wait=%q is not a duration such as 30s", api.ErrInvalidArgument, s)
	}
	return min(wait, h.cfg.MaxWait), nil
}

// submitOne submits one task and answers with its HTTP status (201 created,
// 200 found) and its status: with wait, when the task has finished or
// after wait, whichever is first; the task is stored either way.
func (h *handler) submitOne(ctx context.Context, req api.SubmitRequest, wait time.Duration) (int, *api.Status, error) {
	sub, err := Submission(req)
	if err != nil {
		return 0, nil, err
	}
	sctx, cancel := h.withStoreDeadline(ctx)
	rec, created, err := h.svc.Submit(sctx, sub)
	err = storeDeadlineErr(sctx, ctx, err)
	cancel()
	if err != nil {
		return 0, nil, err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	if wait > 0 {
		ctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		for !store.Terminal(rec.Task.GetStatus().GetState()) && ctx.Err() == nil {
			next, err := h.svc.Wait(ctx, rec.Task.GetSpec().GetId(), rec.Revision)
			if err != nil {
				break // the task is stored: answer with what is known
			}
			rec = next
		}
	}
	return code, api.FromTask(rec.Task, rec.Revision), nil
}

// submitBatch submits several tasks in one request (POST /v1/tasks:batch,
// body {"tasks": [...]}, ?wait= as for one). Each task is submitted as if
// alone, all at once, and the answer has one result per task, in order:
// its HTTP status code and its status, or its error. A task that is
// invalid gets its error and nothing is stored for it; the others go on.
// The answer comes when every task has its result: with ?wait=, when the
// slowest has finished (or the wait is over), which is why the Go client
// batches without it.
func (h *handler) submitBatch(w http.ResponseWriter, r *http.Request) {
	var req api.SubmitBatchRequest
	if err := h.decode(w, r, &req, h.cfg.MaxBatchBytes); err != nil {
		h.fail(w, r, err)
		return
	}
	if n := len(req.Tasks); n == 0 || n > api.MaxBatch {
		h.fail(w, r, fmt.Errorf("%w: a batch holds 1 to %d tasks, got %d", api.ErrInvalidArgument, api.MaxBatch, n))
		return
	}
	wait, err := h.submitWait(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := api.SubmitBatchResponse{Results: make([]api.BatchResult, len(req.Tasks))}
	var wg sync.WaitGroup
	for i, t := range req.Tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, st, err := h.submitOne(r.Context(), t, wait)
			if err != nil {
				status, body := api.ToWire(err)
				h.logFailure(status, err, "method", r.Method, "path", r.URL.Path, "task", t.ID)
				out.Results[i] = api.BatchResult{Code: status, Error: &body.Error}
				return
			}
			out.Results[i] = api.BatchResult{Code: code, Task: st}
		}()
	}
	wg.Wait()
	h.reply(w, http.StatusOK, out)
}

// Submission converts an API request into a task submission. Errors wrap
// api.ErrInvalidArgument.
func Submission(req api.SubmitRequest) (tasks.Submission, error) {
	sub := tasks.Submission{ID: req.ID, Kind: req.Kind, Labels: req.Labels, JobID: req.JobID, JobStrategy: req.JobStrategy, JobStage: req.JobStage,
		JobMaxRestarts: req.JobMaxRestarts, Restart: req.Restart, Significant: req.Significant, DependsOn: req.DependsOn}
	if req.JobRestartPeriod != nil {
		sub.JobRestartPeriod = time.Duration(*req.JobRestartPeriod)
	}
	startAt, err := startOf(req, time.Now())
	if err != nil {
		return sub, err
	}
	sub.StartAt = startAt
	if len(req.Kind) > maxKindLen {
		// No kind has such a name; the message must not echo it whole.
		return sub, fmt.Errorf("%w: unknown kind %.40q…: kind names are at most %d bytes", api.ErrInvalidArgument, req.Kind, maxKindLen)
	}
	if !utf8.Valid(req.Payload) {
		// JSON text is UTF-8: stored as is, it would make every answer
		// carrying the payload (or an echo of it) invalid JSON.
		return sub, fmt.Errorf("%w: the payload is not valid UTF-8", api.ErrInvalidArgument)
	}
	if len(req.Payload) > 0 && string(req.Payload) != "null" {
		sub.Payload = []byte(req.Payload)
	}
	if p := req.Policy; p != nil {
		o := &sub.Overrides
		o.MaxAttempts, o.BackoffMultiplier = p.MaxAttempts, p.BackoffMultiplier
		o.BackoffInitial, o.BackoffMax = dur(p.BackoffInitial), dur(p.BackoffMax)
		o.AttemptTimeout, o.HeartbeatTimeout, o.ScheduleToClose = dur(p.AttemptTimeout), dur(p.HeartbeatTimeout), dur(p.Deadline)
		if p.Jitter != nil {
			j, err := supervisor.ParseJitter(*p.Jitter)
			if err != nil {
				return sub, fmt.Errorf("%w: policy.jitter: %w", api.ErrInvalidArgument, err)
			}
			o.Jitter = &j
		}
	}
	return sub, nil
}

// startOf is a submit's start time: start_at, or now plus start_after
// (zero: at once). The task manager checks the time itself
// (tasks.BuildTask).
func startOf(req api.SubmitRequest, now time.Time) (time.Time, error) {
	switch {
	case req.StartAt != nil && req.StartAfter != nil:
		return time.Time{}, fmt.Errorf("%w: start_at and start_after exclude each other", api.ErrInvalidArgument)
	case req.StartAt != nil:
		return *req.StartAt, nil
	case req.StartAfter == nil:
		return time.Time{}, nil
	case *req.StartAfter < 0:
		return time.Time{}, fmt.Errorf("%w: start_after must not be negative, got %s", api.ErrInvalidArgument, time.Duration(*req.StartAfter))
	}
	return now.Add(time.Duration(*req.StartAfter)), nil
}

// maxKindLen is the longest kind name (actors: ^[a-z][a-z0-9_.-]{0,63}$).
const maxKindLen = 64

func dur(d *api.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := time.Duration(*d)
	return &v
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	if s := q.Get("local"); s != "" {
		local, err := strconv.ParseBool(s)
		if err != nil {
			h.fail(w, r, fmt.Errorf("%w: local=%q: want true or false", api.ErrInvalidArgument, s))
			return
		}
		if local {
			// A member asking for what this one knows of the task, its
			// live progress included, without it asking a third (see
			// tasks.LocalOnly). A client may ask it too: it is a read
			// with less in it, open to the same role as any other.
			r = r.WithContext(tasks.LocalOnly(r.Context()))
		}
	}
	if q.Get("wait") == "" && q.Get("index") == "" {
		ctx, cancel := h.withStoreDeadline(r.Context())
		defer cancel()
		rec, err := h.svc.Get(ctx, id)
		h.answer(w, r, rec, storeDeadlineErr(ctx, r.Context(), err))
		return
	}
	wait := h.cfg.MaxWait
	if s := q.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			h.fail(w, r, fmt.Errorf("%w: wait=%q is not a duration such as 30s", api.ErrInvalidArgument, s))
			return
		}
		wait = min(d, h.cfg.MaxWait)
	}
	var index uint64
	if s := q.Get("index"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			h.fail(w, r, fmt.Errorf("%w: index=%q is not a revision number", api.ErrInvalidArgument, s))
			return
		}
		index = v
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	rec, err := h.svc.Wait(ctx, id, index)
	h.answer(w, r, rec, err)
}

func (h *handler) cancel(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.withStoreDeadline(r.Context())
	defer cancel()
	rec, err := h.svc.Cancel(ctx, r.PathValue("id"), r.URL.Query().Get("reason"))
	h.answer(w, r, rec, storeDeadlineErr(ctx, r.Context(), err))
}

func (h *handler) restart(w http.ResponseWriter, r *http.Request) {
	h.requestControl(w, r, h.svc.Restart)
}

// requestControl answers a route on one task whose optional body is a
// reason and a request id (api.RestartRequest): restart and retry.
func (h *handler) requestControl(w http.ResponseWriter, r *http.Request, call func(ctx context.Context, id, reason, requestID string) (store.Record, error)) {
	var req api.RestartRequest
	if r.ContentLength != 0 {
		if err := h.decode(w, r, &req, h.cfg.MaxBodyBytes); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	ctx, cancel := h.withStoreDeadline(r.Context())
	defer cancel()
	rec, err := call(ctx, r.PathValue("id"), req.Reason, req.RequestID)
	h.answer(w, r, rec, storeDeadlineErr(ctx, r.Context(), err))
}

// jobPage is api.JobStatus with its page of tasks encoded already (the
// outer Tasks hides the embedded one in JSON).
type jobPage struct {
	api.JobStatus
	Tasks []json.RawMessage `json:"tasks"`
}

// jobTasks answers GET /v1/jobs/{id}/tasks: a page of the job's tasks by
// id, as GET /v1/tasks pages (?limit=, ?cursor=, within MaxPageBytes).
func (h *handler) jobTasks(w http.ResponseWriter, r *http.Request) {
	f, err := jobFilter(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.servePage(w, r, f)
}

// jobFilter selects a page of the tasks of the job r names, by id.
func jobFilter(r *http.Request) (store.Filter, error) {
	f := store.Filter{JobID: r.PathValue("id"), Order: store.ByID, Limit: DefaultListLimit}
	return f, pageQuery(r.URL.Query(), &f)
}

func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := h.cfg.Health(ctx); err != nil {
			if anonymous(r.Context()) {
				// Consul's check needs only the status; the cause stays in the log.
				h.log.Warn("unhealthy", "err", err)
				err = errors.New("the node is not healthy")
			}
			h.fail(w, r, fmt.Errorf("%w: %w", api.ErrUnavailable, err))
			return
		}
	}
	if anonymous(r.Context()) {
		h.reply(w, http.StatusOK, api.Health{Status: "ok"})
		return
	}
	hl := api.Health{Status: "ok", Member: h.cfg.Member}
	if h.cfg.Activations != nil {
		hl.Activations = h.cfg.Activations()
	}
	h.reply(w, http.StatusOK, hl)
}

func (h *handler) members(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Members == nil {
		h.fail(w, r, fmt.Errorf("%w: this node is not in a cluster", api.ErrNotFound))
		return
	}
	activations := true
	if v := r.URL.Query().Get("activations"); v != "" {
		var err error
		if activations, err = strconv.ParseBool(v); err != nil {
			h.fail(w, r, fmt.Errorf("%w: activations=%q: want true or false", api.ErrInvalidArgument, v))
			return
		}
	}
	ms, err := h.cfg.Members(r.Context(), activations)
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: %w", api.ErrUnavailable, err))
		return
	}
	h.reply(w, http.StatusOK, api.MemberList{Members: ms, Count: len(ms)})
}

func (h *handler) answer(w http.ResponseWriter, r *http.Request, rec store.Record, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, http.StatusOK, api.FromTask(rec.Task, rec.Revision))
}

// decode reads a JSON body strictly: unknown fields, trailing data and
// oversized bodies are invalid arguments with a message saying which.
func (h *handler) decode(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("%w: request body over %d bytes", api.ErrInvalidArgument, tooBig.Limit)
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty request body, want a JSON object", api.ErrInvalidArgument)
		}
		return fmt.Errorf("%w: malformed JSON body: %w", api.ErrInvalidArgument, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: unexpected data after the JSON body", api.ErrInvalidArgument)
	}
	return nil
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) && !errors.Is(err, api.ErrUnavailable) {
		// The request's context ended under it: the node is shutting down
		// (or the caller left, and hears nothing either way). Not a fault
		// of the node's: unavailable, to be retried on another member
		// (it answered 500 during a rolling upgrade).
		err = fmt.Errorf("%w: the member stopped serving this request: %w", api.ErrUnavailable, err)
	}
	status, body := api.ToWire(err)
	h.logFailure(status, err, "method", r.Method, "path", r.URL.Path)
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		// The store or the cluster is away for now: say when to try again,
		// as a 429 does.
		w.Header().Set("Retry-After", h.admit.retryAfter)
	}
	h.reply(w, status, body)
}

// logFailure logs a request that failed on the node's side: an internal
// error every time; unavailable and deadline answers (the store or the
// cluster in trouble: they come in floods while it lasts, and clients
// retry them) at most once per unavailableLogEvery, with a count of those
// left out.
func (h *handler) logFailure(status int, err error, attrs ...any) {
	switch {
	case status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		if ok, held := h.unavailable.Allow(time.Now()); ok {
			h.log.Warn("request failed; the node answers unavailable while this lasts", append(attrs, "status", status, "err", err, "similar_lines_left_out", held)...)
		}
	case status >= 500:
		h.log.Error("request failed", append(attrs, "status", status, "err", err)...)
	}
}

func (h *handler) reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// unavailableLogEvery: one line every 10 s says the trouble goes on (every
// request answers 503 while the store or the cluster is away, at the rate
// clients retry).
const unavailableLogEvery = 10 * time.Second
