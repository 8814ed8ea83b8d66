package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
)

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
