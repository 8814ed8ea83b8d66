package node

import (
	"net/http"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/membership"
	"github.com/granary-rt/granary/cluster/metrics"
	consul "github.com/hashicorp/consul/api"
)

// newMetrics returns the node's instruments, nil with metrics off.
func newMetrics(cfg Config) *metrics.Metrics {
	if !cfg.Metrics {
		return nil
	}
	return metrics.New(metrics.DefaultConfig())
}

// Metrics is the node's instruments and their registry (nil with
// Config.Metrics off): an application may register its own collectors on
// Metrics().Registry(), served with Granary's at GET /metrics.
func (n *Node) Metrics() *metrics.Metrics { return n.metrics }

// withMetrics serves GET /metrics beside h when metrics are on. It needs
// the read role when tokens are on (httpapi.RoleFor: a GET).
func withMetrics(m *metrics.Metrics, h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("/", h)
	return mux
}

// consulConfig is a copy of cfg (consul.NewClient fills in the config it
// is given, its HTTP client included, which would then be shared by every
// client made from it) whose round trips are counted when metrics are on.
// A caller's own HTTP client is left as it is.
func (n *Node) consulConfig(base *consul.Config) (*consul.Config, error) {
	cfg := *base
	if n.metrics == nil || cfg.HttpClient != nil {
		return &cfg, nil
	}
	if cfg.Transport == nil {
		cfg.Transport = consul.DefaultConfig().Transport
	}
	// NewClient makes the HTTP client from the transport, the TLS settings
	// and Consul's CONSUL_* variables; the client it returns is not used.
	if _, err := consul.NewClient(&cfg); err != nil {
		return nil, err
	}
	cfg.HttpClient.Transport = n.metrics.Consul(cfg.HttpClient.Transport)
	return &cfg, nil
}

// memberHealth is the members gauge: the healthy members of the latest
// view, and those that left a view and have not come back (forgotten
// after lostFor). applyView updates it; Prometheus reads it.
type memberHealth struct {
	mu      sync.Mutex
	healthy map[string]bool
	lost    map[string]time.Time
}

// lostFor is how long a member that left stays counted as lost: long
// enough for an alert on it to fire, short enough that a member removed
// on purpose stops counting.
const lostFor = 15 * time.Minute

func (h *memberHealth) update(next membership.View, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost == nil {
		h.lost = map[string]time.Time{}
	}
	prev := h.healthy
	h.healthy = make(map[string]bool, len(next.Members))
	for _, m := range next.Members {
		h.healthy[m.ID] = true
		delete(h.lost, m.ID)
	}
	for id := range prev {
		if !h.healthy[id] {
			h.lost[id] = now
		}
	}
	for id, at := range h.lost {
		if now.Sub(at) > lostFor {
			delete(h.lost, id)
		}
	}
}

func (h *memberHealth) read(report func(health string, n int)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	report("healthy", len(h.healthy))
	report("lost", len(h.lost))
}
