package httpapi

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
)

// The read-only routes the web console (package console) needs beyond the
// task routes: what each member says about itself, the cluster as a whole,
// counts of tasks, and the jobs. They are ordinary API routes (a client or
// a script may use them too) and need a read token like other GETs; none
// names an address, which only /v1/members (write) gives.

// TaskCounter is what GET /v1/tasks:stats needs of the task service: the
// stored tasks counted by kind and state, from counts the store keeps with
// its writes (one read at any number of tasks). *tasks.Manager has it; a
// service without it is counted by a listing of every task.
type TaskCounter interface {
	TaskCounts(ctx context.Context) (store.Counts, error)
}

// CountRebuilder is what POST /v1/tasks:recount needs of the task service:
// the counts made anew from a scan of every task (their repair). A
// service without it answers 404.
type CountRebuilder interface {
	RebuildTaskCounts(ctx context.Context) (store.Counts, error)
}

// JobLister is what GET /v1/jobs needs of the task service; a service
// without it answers 404. *tasks.Manager has it.
type JobLister interface {
	Jobs(ctx context.Context) ([]store.JobRecord, error)
}

// consoleRoutes registers the console's routes on h.mux.
func (h *handler) consoleRoutes() {
	h.mux.HandleFunc("GET /v1/member", h.self)
	h.mux.HandleFunc("GET /v1/cluster", h.cluster)
	if h.svc != nil {
		h.mux.HandleFunc("GET /v1/tasks:stats", h.taskStats)
		h.mux.HandleFunc("POST /v1/tasks:recount", h.recount)
		h.mux.HandleFunc("GET /v1/jobs", h.jobs)
	}
}

// self answers GET /v1/member: this member's report.
func (h *handler) self(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Self == nil {
		h.fail(w, r, fmt.Errorf("%w: this node does not report on itself", api.ErrNotFound))
		return
	}
	rep, err := h.cfg.Self(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, http.StatusOK, rep)
}

// cluster answers GET /v1/cluster: every registered member with its health
// and its own report.
func (h *handler) cluster(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Cluster == nil {
		h.fail(w, r, fmt.Errorf("%w: this node does not report on the cluster", api.ErrNotFound))
		return
	}
	rep, err := h.cfg.Cluster(r.Context())
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: %w", api.ErrUnavailable, err))
		return
	}
	h.reply(w, http.StatusOK, rep)
}

// taskStats answers GET /v1/tasks:stats: the counts as the store keeps
// them, read anew on every call (they cost one read however many tasks
// are stored).
func (h *handler) taskStats(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var n store.Counts
	var err error
	if tc, ok := h.svc.(TaskCounter); ok {
		n, err = tc.TaskCounts(r.Context())
	} else {
		var recs []store.Record
		recs, err = h.svc.Find(r.Context(), store.Filter{})
		n = store.CountRecords(recs)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, http.StatusOK, taskStatsOf(n, start))
}

// recount answers POST /v1/tasks:recount: the counts made anew from a
// scan of every task, as GET /v1/tasks:stats would then answer them.
func (h *handler) recount(w http.ResponseWriter, r *http.Request) {
	cr, ok := h.svc.(CountRebuilder)
	if !ok {
		h.fail(w, r, fmt.Errorf("%w: this node keeps no task counts", api.ErrNotFound))
		return
	}
	start := time.Now()
	n, err := cr.RebuildTaskCounts(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("task counts rebuilt from a scan", "tasks", n.Total(), "took", time.Since(start))
	h.reply(w, http.StatusOK, taskStatsOf(n, start))
}

// taskStatsOf is the body of GET /v1/tasks:stats for counts n read from
// start until now.
func taskStatsOf(n store.Counts, start time.Time) *api.TaskStats {
	st := &api.TaskStats{Total: int(n.Total()), ByState: map[string]int{}, ByKind: map[string]map[string]int{}, At: start.UTC()}
	for _, s := range api.States {
		st.ByState[s] = 0
	}
	for kind, m := range n {
		st.ByKind[kind] = map[string]int{}
		for s, k := range m {
			state := api.StateName(s)
			st.ByState[state] += int(k)
			st.ByKind[kind][state] += int(k)
		}
	}
	st.Took = api.Duration(time.Since(start))
	return st
}

// DefaultJobLimit and MaxJobLimit bound GET /v1/jobs' ?limit=.
const (
	DefaultJobLimit = 100
	MaxJobLimit     = 1000
)

// jobs answers GET /v1/jobs: job records, most recently updated first.
func (h *handler) jobs(w http.ResponseWriter, r *http.Request) {
	jl, ok := h.svc.(JobLister)
	if !ok {
		h.fail(w, r, fmt.Errorf("%w: this node does not list jobs", api.ErrNotFound))
		return
	}
	limit := DefaultJobLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxJobLimit {
			h.fail(w, r, fmt.Errorf("%w: limit=%q: want 1 to %d", api.ErrInvalidArgument, s, MaxJobLimit))
			return
		}
		limit = n
	}
	recs, err := jl.Jobs(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := api.JobList{Jobs: make([]api.JobSummary, 0, min(limit, len(recs))), Total: len(recs)}
	for _, rec := range recs {
		j := rec.Job
		out.Jobs = append(out.Jobs, api.JobSummary{ID: j.GetId(), Strategy: j.GetStrategy(), Restarts: len(j.GetRestarts()),
			MaxRestarts: int(j.GetMaxRestarts()), Failed: j.GetFailed(), State: tasks.RecordState(j), Error: j.GetCause(), UpdatedAt: j.GetUpdatedAt().AsTime(),
			Parent: j.GetParent(), Depth: int(j.GetDepth()), Declared: j.GetDeclared()})
	}
	slices.SortFunc(out.Jobs, func(a, b api.JobSummary) int {
		return cmp.Or(b.UpdatedAt.Compare(a.UpdatedAt), cmp.Compare(a.ID, b.ID))
	})
	if len(out.Jobs) > limit {
		out.Jobs = out.Jobs[:limit]
	}
	out.Count = len(out.Jobs)
	h.reply(w, http.StatusOK, out)
}
