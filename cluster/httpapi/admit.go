package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/granary-rt/granary/cluster/api"
)

// admission bounds the requests a node serves at once. Past the bound it
// answers 429 with Retry-After at once, doing nothing, instead of taking
// on work that would slow every caller down: clients (the Go client, the
// CLI) wait as asked and try again, on another node if they know one.
// Long polls, which mostly wait, have a bound of their own, so waiters
// never crowd out submits or calls. /healthz is never refused: Consul's
// health check goes through it, and a busy node is not a dead one.
//
// Request bodies have a bound of their own too, in bytes: MaxInflight
// requests each up to MaxBatchBytes would be gigabytes, enough for a
// client to run the node out of memory with requests each within its
// limit.
type admission struct {
	work, waits chan struct{}
	retryAfter  string
	// bodies bounds the bytes of the bodies of requests being served (max
	// 0: no bound); each reserves its Content-Length, or its route's limit
	// when it does not say.
	bodies                byteBudget
	bodyLimit, batchLimit int64
}

// byteBudget is a semaphore on bytes: what the requests being served hold
// (or may come to hold) stays within max (0: no bound).
type byteBudget struct {
	max  int64
	mu   sync.Mutex
	used int64
}

// take reserves n bytes if they fit.
func (b *byteBudget) take(n int64) bool {
	if b.max <= 0 || n <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

// give returns n bytes that take reserved.
func (b *byteBudget) give(n int64) {
	if b.max <= 0 || n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

func newAdmission(cfg Config) *admission {
	a := &admission{retryAfter: strconv.Itoa(max(1, int(cfg.RetryAfter.Seconds()))), bodies: byteBudget{max: cfg.MaxBodyBytesInFlight},
		bodyLimit: cfg.MaxBodyBytes, batchLimit: cfg.MaxBatchBytes}
	if a.batchLimit <= 0 {
		a.batchLimit = DefaultConfig().MaxBatchBytes
	}
	if cfg.MaxInflight > 0 {
		a.work = make(chan struct{}, cfg.MaxInflight)
	}
	if cfg.MaxWaiters > 0 {
		a.waits = make(chan struct{}, cfg.MaxWaiters)
	}
	return a
}

// admit takes a slot for r; ok false means the node is at its limit, and
// why says which.
func (a *admission) admit(r *http.Request) (release func(), why string, ok bool) {
	if r.URL.Path == "/healthz" {
		return func() {}, "", true
	}
	body, ok := a.reserveBody(r)
	if !ok {
		return nil, fmt.Sprintf("the bodies of the requests it serves hold %d bytes at most", a.bodies.max), false
	}
	slots := a.work
	if r.Method == http.MethodGet {
		if q := r.URL.Query(); q.Has("wait") || q.Has("index") {
			slots = a.waits
		}
	}
	if slots == nil {
		return func() { a.releaseBody(body) }, "", true
	}
	select {
	case slots <- struct{}{}:
		return func() { <-slots; a.releaseBody(body) }, "", true
	default:
		a.releaseBody(body)
		return nil, fmt.Sprintf("it serves %d requests and %d long polls at most", cap(a.work), cap(a.waits)), false
	}
}

// reserveBody reserves r's body in the budget: its Content-Length, or
// when it has none (chunked) the most its route reads.
func (a *admission) reserveBody(r *http.Request) (int64, bool) {
	if a.bodies.max <= 0 || r.ContentLength == 0 || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return 0, true
	}
	limit := a.bodyLimit
	if r.URL.Path == "/v1/tasks:batch" {
		limit = a.batchLimit
	}
	n := limit
	if r.ContentLength > 0 && (limit <= 0 || r.ContentLength < limit) {
		n = r.ContentLength
	}
	if n <= 0 {
		return 0, true
	}
	if !a.bodies.take(n) {
		return 0, false
	}
	return n, true
}

func (a *admission) releaseBody(n int64) { a.bodies.give(n) }

// refuse answers a request the node has no room for.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, why string) {
	w.Header().Set("Retry-After", h.admit.retryAfter)
	h.fail(w, r, fmt.Errorf("%w: member %s is at its limit (%s); try again in %ss",
		api.ErrResourceExhausted, h.cfg.Member, why, h.admit.retryAfter))
}
