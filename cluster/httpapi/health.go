package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/granary-rt/granary/cluster/api"
)

// health answers GET /healthz: ok, or 503 with the cause when Health fails.
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
