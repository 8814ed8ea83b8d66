package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
)

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
