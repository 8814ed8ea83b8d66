package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/messages"
)

// The job routes: a job is a supervisor, declared as a resource and
// stopped as a whole.
//
//	PUT    /v1/jobs/{id}       JobSpec -> JobStatus: 201 declared, 200 already so (or a job made by its first task, declared now)
//	GET    /v1/jobs/{id}       JobStatus
//	GET    /v1/jobs/{id}/tree  JobTree: the job and its descendants
//	DELETE /v1/jobs/{id}       JobTree: 200 when the whole subtree has ended, 202 while children are still exiting

// JobService is what the job routes need beyond TaskService: declaring,
// reading, drawing and stopping jobs. A service without it answers the
// job routes 404 (GET /v1/jobs/{id} excepted, served from TaskService.Job).
// *tasks.Manager has it.
type JobService interface {
	DeclareJob(ctx context.Context, d tasks.JobDeclaration) (store.JobRecord, bool, error)
	JobNode(ctx context.Context, id string) (*tasks.JobNode, error)
	JobTree(ctx context.Context, id string) (tasks.JobTree, error)
	StopJob(ctx context.Context, id, reason string) (store.JobRecord, error)
}

// jobRoutes registers the job routes on h.mux (h.svc is not nil).
func (h *handler) jobRoutes() {
	h.mux.HandleFunc("GET /v1/jobs/{id}", h.job)
	h.mux.HandleFunc("PUT /v1/jobs/{id}", h.withJobs(h.declareJob))
	h.mux.HandleFunc("GET /v1/jobs/{id}/tree", h.withJobs(h.jobTree))
	h.mux.HandleFunc("DELETE /v1/jobs/{id}", h.withJobs(h.stopJob))
}

// withJobs serves a job route with the JobService, or 404 without one.
func (h *handler) withJobs(serve func(JobService, http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		js, ok := h.svc.(JobService)
		if !ok {
			h.fail(w, r, fmt.Errorf("%w: this node does not declare, draw or stop jobs", api.ErrNotFound))
			return
		}
		serve(js, w, r)
	}
}

// declareJob answers PUT /v1/jobs/{id}: 201 with the job when declared now,
// 200 when it already was so (or existed, made by its first task, and is
// declared now); 409 when it is declared otherwise, saying what differs.
func (h *handler) declareJob(js JobService, w http.ResponseWriter, r *http.Request) {
	var spec api.JobSpec
	if r.ContentLength != 0 {
		if err := h.decode(w, r, &spec, h.cfg.MaxBodyBytes); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	d := tasks.JobDeclaration{ID: r.PathValue("id"), Strategy: spec.Strategy, MaxRestarts: spec.MaxRestarts, AutoShutdown: spec.AutoShutdown,
		Parent: spec.Parent, Stage: spec.Stage, Restart: spec.Restart, Significant: spec.Significant}
	if spec.RestartPeriod != nil {
		d.RestartPeriod = time.Duration(*spec.RestartPeriod)
	}
	d.Shutdown = dur(spec.Shutdown)
	_, created, err := js.DeclareJob(r.Context(), d)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.serveJob(w, r, d.ID, putStatus(created))
}

// putStatus is the status of a PUT's answer: 201 when it created the
// resource, 200 when the resource already stood so.
func putStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// job answers GET /v1/jobs/{id}: the job's declaration and summary and the
// first page of its tasks by id (?limit=, within MaxPageBytes), with the
// cursor of the next page of GET /v1/jobs/{id}/tasks.
func (h *handler) job(w http.ResponseWriter, r *http.Request) {
	h.serveJob(w, r, r.PathValue("id"), http.StatusOK)
}

// serveJob answers job id as GET /v1/jobs/{id} does, with code.
func (h *handler) serveJob(w http.ResponseWriter, r *http.Request, id string, code int) {
	f, err := jobFilter(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	release, ok := h.reserveRead(w, r)
	if !ok {
		return
	}
	defer release()
	out, err := h.jobSummary(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page, err := h.readPage(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out.TasksNext = page.Next
	h.reply(w, code, jobPage{JobStatus: out, Tasks: page.Tasks})
}

// jobSummary is a job's declaration and summary, without its tasks: from
// the JobService if the service has one (a declared job without tasks is
// found), else from TaskService.Job.
func (h *handler) jobSummary(ctx context.Context, id string) (api.JobStatus, error) {
	if js, ok := h.svc.(JobService); ok {
		n, err := js.JobNode(ctx, id)
		if err != nil {
			return api.JobStatus{}, err
		}
		return jobStatus(id, n.Job, n.Summary, n.State, len(n.Tasks)), nil
	}
	recs, sum, err := h.svc.Job(ctx, id)
	if err != nil {
		return api.JobStatus{}, err
	}
	return jobStatus(id, nil, sum, sum.State, len(recs)), nil
}

// jobTree answers GET /v1/jobs/{id}/tree.
func (h *handler) jobTree(js JobService, w http.ResponseWriter, r *http.Request) {
	t, err := js.JobTree(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, http.StatusOK, apiTree(t))
}

// stopJob answers DELETE /v1/jobs/{id}[?reason=]: the job is stopped, its
// subtree children first in reverse start order, and the answer is its
// tree: 200 when every job and task of it has ended, 202 when some are
// still exiting (poll GET /v1/jobs/{id}/tree). Stopping a stopped job is
// not an error: it answers the same way.
func (h *handler) stopJob(js JobService, w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := js.StopJob(r.Context(), id, r.URL.Query().Get("reason")); err != nil {
		h.fail(w, r, err)
		return
	}
	t, err := js.JobTree(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := apiTree(t)
	code := http.StatusAccepted
	if out.Finished() {
		code = http.StatusOK
	}
	h.reply(w, code, out)
}

// jobStatus is the JSON of one job without its tasks (rec nil: a job
// without a record, its settings from its tasks as sum has them).
func jobStatus(id string, rec *messages.Job, sum tasks.JobSummary, state string, taskCount int) api.JobStatus {
	out := api.JobStatus{ID: id, JobSpec: jobSpec(rec, sum), State: state, Error: sum.Cause, Counts: sum.Counts,
		Restarts: len(sum.Restarts), Declared: rec.GetDeclared(), Depth: int(rec.GetDepth()), TaskCount: taskCount}
	if c := rec.GetCreatedAt(); c != nil {
		out.CreatedAt = api.Ptr(c.AsTime())
	}
	for _, r := range sum.Restarts {
		out.RestartLog = append(out.RestartLog, api.JobRestart{At: r.GetAt().AsTime(), Task: r.GetTask(), Error: r.GetError()})
	}
	return out
}

// jobSpec is a job's declaration as shown, its strategy and budget as its
// summary has them (from its record, else from its tasks).
func jobSpec(rec *messages.Job, sum tasks.JobSummary) api.JobSpec {
	s := api.JobSpecOf(rec)
	s.Strategy, s.MaxRestarts, s.RestartPeriod = sum.Strategy, sum.MaxRestarts, nil
	if sum.RestartPeriod > 0 {
		s.RestartPeriod = api.Ptr(api.Duration(sum.RestartPeriod))
	}
	return s
}

// apiTree is the JSON of a job tree.
func apiTree(t tasks.JobTree) *api.JobTree {
	return &api.JobTree{Root: apiNode(t.Root), Jobs: t.Jobs, Tasks: t.Tasks, Truncated: t.Truncated}
}

func apiNode(n *tasks.JobNode) *api.JobNode {
	out := &api.JobNode{ID: n.ID, JobSpec: jobSpec(n.Job, n.Summary), State: n.State, Error: n.Summary.Cause, Restarts: len(n.Summary.Restarts),
		RestartsInPeriod: n.RestartsInPeriod, Declared: n.Job.GetDeclared(), Depth: int(n.Job.GetDepth()), Counts: n.Summary.Counts,
		Tasks: make([]api.TaskNode, 0, len(n.Tasks)), Jobs: make([]*api.JobNode, 0, len(n.Children)),
		TasksOmitted: n.TasksOmitted, JobsOmitted: n.ChildrenOmitted}
	for _, r := range n.Tasks {
		spec, st := r.Task.GetSpec(), r.Task.GetStatus()
		out.Tasks = append(out.Tasks, api.TaskNode{ID: spec.GetId(), Kind: spec.GetKind(), State: api.StateName(st.GetState()), Stage: int(spec.GetJobStage()),
			Restart: api.RestartTypeOf(spec), Significant: spec.GetSignificant(), Attempts: int(st.GetAttempts()), JobRestarts: int(st.GetJobRestarts()),
			Owner: st.GetOwner(), Error: st.GetError()})
	}
	for _, c := range n.Children {
		out.Jobs = append(out.Jobs, apiNode(c))
	}
	return out
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
