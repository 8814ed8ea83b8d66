package httpapi

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
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

// DefaultStatsEvery is the least time between two counts of the stored
// tasks (GET /v1/tasks:stats): a count reads every task, so however many
// consoles ask, a node counts at most this often (and less often when a
// count is slow: see statsCache).
const DefaultStatsEvery = 2 * time.Second

// statsSlowdown: a count that took d is not redone before statsSlowdown×d,
// so counting costs the node at most about 1/statsSlowdown (0.5%) of a core
// whatever the number of tasks.
const statsSlowdown = 200

// JobLister is what GET /v1/jobs needs of the task service; a service
// without it answers 404. *tasks.Manager has it.
type JobLister interface {
	Jobs(ctx context.Context) ([]store.JobRecord, error)
}

// consoleRoutes registers the console's routes on h.mux.
func (h *handler) consoleRoutes() {
	h.stats = &statsCache{every: cmp.Or(h.cfg.StatsEvery, DefaultStatsEvery)}
	h.mux.HandleFunc("GET /v1/member", h.self)
	h.mux.HandleFunc("GET /v1/cluster", h.cluster)
	if h.svc != nil {
		h.mux.HandleFunc("GET /v1/tasks:stats", h.taskStats)
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

// taskStats answers GET /v1/tasks:stats from the cache, counting anew
// when the counts are stale.
func (h *handler) taskStats(w http.ResponseWriter, r *http.Request) {
	st, err := h.stats.get(r.Context(), h.svc)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, http.StatusOK, st)
}

// statsCache holds the last count of the stored tasks. One count runs at
// a time; callers that arrive meanwhile wait for it and share its result.
type statsCache struct {
	every time.Duration
	mu    sync.Mutex // held while counting: it serialises counts
	last  *api.TaskStats
	next  time.Time // no new count before
}

func (c *statsCache) get(ctx context.Context, svc TaskService) (*api.TaskStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && time.Now().Before(c.next) {
		return c.last, nil
	}
	start := time.Now()
	recs, err := svc.Find(ctx, store.Filter{})
	if err != nil {
		return nil, err
	}
	st := &api.TaskStats{Total: len(recs), ByState: map[string]int{}, ByKind: map[string]map[string]int{}, At: start.UTC()}
	for _, s := range api.States {
		st.ByState[s] = 0
	}
	for _, rec := range recs {
		state, kind := api.StateName(rec.Task.GetStatus().GetState()), rec.Task.GetSpec().GetKind()
		st.ByState[state]++
		if st.ByKind[kind] == nil {
			st.ByKind[kind] = map[string]int{}
		}
		st.ByKind[kind][state]++
	}
	took := time.Since(start)
	every := max(c.every, statsSlowdown*took)
	st.Took, st.Every = api.Duration(took), api.Duration(every)
	c.last, c.next = st, start.Add(every)
	return st, nil
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
