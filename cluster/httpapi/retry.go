package httpapi

import (
	"net/http"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
)

// retry answers POST /v1/tasks/{id}/retry: a failed or cancelled task sent
// round again (tasks.Manager.Retry).
func (h *handler) retry(w http.ResponseWriter, r *http.Request) {
	h.requestControl(w, r, h.svc.Retry)
}

// retryMany answers POST /v1/tasks:retry: the failed or cancelled tasks a
// filter selects sent round again, or counted (dry_run).
func (h *handler) retryMany(w http.ResponseWriter, r *http.Request) {
	var req api.RetryManyRequest
	if err := h.decode(w, r, &req, h.cfg.MaxBodyBytes); err != nil {
		h.fail(w, r, err)
		return
	}
	f := tasks.RetryFilter{Filter: store.Filter{Kind: req.Kind, Labels: req.Labels, JobID: req.JobID}}
	for _, s := range req.States {
		st, err := api.ParseState(s)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		f.Filter.States = append(f.Filter.States, st)
	}
	if req.FailedSince != nil {
		f.FailedSince = *req.FailedSince
	}
	ids, failed, more, err := h.svc.RetryMany(r.Context(), f, req.Reason, req.DryRun)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := api.RetryManyResponse{DryRun: req.DryRun, Count: len(ids), IDs: ids, More: more}
	if out.IDs == nil {
		out.IDs = []string{}
	}
	for id, err := range failed {
		if out.Failed == nil {
			out.Failed = map[string]string{}
		}
		out.Failed[id] = err.Error()
	}
	h.reply(w, http.StatusOK, out)
}
