package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
)

// grainState answers a durable grain's state as last stored. It reads the
// store, not the activation: what a caller was answered is stored.
func (h *handler) grainState(w http.ResponseWriter, r *http.Request) {
	kind, id, ok := h.stateRef(w, r)
	if !ok {
		return
	}
	data, version, err := h.cfg.GrainState.LoadState(r.Context(), kind, id)
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: reading the state of %s/%s: %w", api.ErrUnavailable, kind, id, err))
		return
	}
	rec := &messages.GrainStateRecord{}
	if err := proto.Unmarshal(data, rec); err != nil {
		h.fail(w, r, fmt.Errorf("%w: the stored record of %s/%s: %w", api.ErrInternal, kind, id, err))
		return
	}
	out := api.GrainState{Kind: kind, Identity: id, Version: version}
	out.State, out.StateBase64 = api.JSONOrBase64(rec.GetState())
	for _, rm := range rec.GetReminders() {
		r := api.Reminder{Name: rm.GetName(), Due: time.Unix(0, rm.GetDueUnixNano()).UTC(), Period: api.Duration(rm.GetPeriodNanos())}
		r.Payload, r.PayloadBase64 = api.JSONOrBase64(rm.GetPayload())
		out.Reminders = append(out.Reminders, r)
	}
	h.reply(w, http.StatusOK, out)
}

// clearGrainState deletes a durable grain's state. An activation holding
// it learns at its next write (a conflict: it deactivates and the caller
// retries), and the next activation starts from the zero state.
func (h *handler) clearGrainState(w http.ResponseWriter, r *http.Request) {
	kind, id, ok := h.stateRef(w, r)
	if !ok {
		return
	}
	if err := h.cfg.GrainState.DeleteState(r.Context(), kind, id); err != nil {
		h.fail(w, r, fmt.Errorf("%w: clearing the state of %s/%s: %w", api.ErrUnavailable, kind, id, err))
		return
	}
	h.reply(w, http.StatusOK, api.GrainState{Kind: kind, Identity: id})
}

// stateRef checks the kind (a registered grain kind with durable state)
// and the identity of a state route.
func (h *handler) stateRef(w http.ResponseWriter, r *http.Request) (string, string, bool) {
	kind, id := r.PathValue("kind"), r.PathValue("id")
	switch {
	case h.cfg.GrainState == nil:
		h.fail(w, r, fmt.Errorf("%w: this node keeps no grain state", api.ErrNotFound))
		return "", "", false
	case !api.ValidID(id):
		h.fail(w, r, fmt.Errorf("%w: identity %.140q must match %s", api.ErrInvalidArgument, id, api.IDPattern))
		return "", "", false
	}
	if h.cfg.Registry != nil {
		k, err := h.cfg.Registry.Grain(kind)
		if err != nil {
			h.fail(w, r, fmt.Errorf("%w: %w", api.ErrInvalidArgument, err))
			return "", "", false
		}
		if !k.IsDurable() {
			h.fail(w, r, fmt.Errorf("%w: grain kind %s keeps no durable state", api.ErrInvalidArgument, kind))
			return "", "", false
		}
	}
	return kind, id, true
}
