package grains

import (
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/cluster/metrics"
)

// evictBatch is the most activations one new activation deactivates
// early under pressure: more than one, so the count falls back below the
// high-water mark, and few, so one message of the router's stays short.
const evictBatch = 8

// makeRoom reports whether a new activation may start. Past the
// high-water mark it first deactivates the least recently used
// activations idle for PressureIdleTimeout (their retire follows the
// requests already forwarded to them); at MaxActivations with none idle
// enough, there is no room.
func (r *router) makeRoom(c actor.Context, now time.Time) bool {
	cfg := r.h.cfg
	if r.active.unpinned() >= cfg.ActivationHighWater {
		for _, e := range r.active.evictable(evictBatch, now.Add(-cfg.PressureIdleTimeout)) {
			r.retire(c, e.key, e.pid, &retire{}, false)
			kind, _, _ := strings.Cut(e.key, "/")
			r.h.refused(kind, metrics.RefusedEvicted)
		}
	}
	return r.active.unpinned() < cfg.MaxActivations
}

// refused counts one refusal of kind's work.
func (h *Host) refused(kind string, why metrics.Refusal) { h.cfg.Metrics.GrainRefused(kind, why) }

// HungHandlers is the number of abandoned handlers still running on
// this member: each holds its goroutine, and what it references, until
// it returns. A count that only grows is a handler that ignores its
// context.
func (h *Host) HungHandlers() int { return int(h.hung.Load()) }
