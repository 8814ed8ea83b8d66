package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/granary-rt/granary/cluster/api"
)

// admission bounds the requests a node serves at once. Past the bound it
// answers 429 with Retry-After at once, doing nothing, instead of taking
// on work that would slow every caller down: clients (the Go client, the
// CLI) wait as asked and try again, on another node if they know one.
// Long polls, which mostly wait, have a bound of their own, so waiters
// never crowd out submits or calls. /healthz is never refused: Consul's
// health check goes through it, and a busy node is not a dead one.
type admission struct {
	work, waits chan struct{}
	retryAfter  string
}

func newAdmission(cfg Config) *admission {
	a := &admission{retryAfter: strconv.Itoa(max(1, int(cfg.RetryAfter.Seconds())))}
	if cfg.MaxInflight > 0 {
		a.work = make(chan struct{}, cfg.MaxInflight)
	}
	if cfg.MaxWaiters > 0 {
		a.waits = make(chan struct{}, cfg.MaxWaiters)
	}
	return a
}

// admit takes a slot for r; ok false means the node is at its limit.
func (a *admission) admit(r *http.Request) (release func(), ok bool) {
	if r.URL.Path == "/healthz" {
		return func() {}, true
	}
	slots := a.work
	if r.Method == http.MethodGet {
		if q := r.URL.Query(); q.Has("wait") || q.Has("index") {
			slots = a.waits
		}
	}
	if slots == nil {
		return func() {}, true
	}
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, true
	default:
		return nil, false
	}
}

// refuse answers a request the node has no room for.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", h.admit.retryAfter)
	h.fail(w, r, fmt.Errorf("%w: member %s is serving as many requests as it takes (%d, %d long polls); try again in %ss",
		api.ErrResourceExhausted, h.cfg.Member, cap(h.admit.work), cap(h.admit.waits), h.admit.retryAfter))
}
