package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/supervisor"
)

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
		JobMaxRestarts: req.JobMaxRestarts, Restart: req.Restart, Significant: req.Significant, DependsOn: req.DependsOn, Fresh: req.Fresh}
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
