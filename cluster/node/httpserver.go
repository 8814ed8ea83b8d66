package node

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/httpapi"
)

// The HTTP server's bounds: a slow or idle client holds a connection (a
// file descriptor, buffers, a goroutine) only so long, and only so many
// connections are held at once. Seen before them: a body sent a byte every
// 5s, or idle keep-alive connections, held for minutes; 20,000 of them
// exhausted the process's file descriptors and /healthz timed out.
// (Variables only so that a test can shorten them.)
var (
	// readHeaderTimeout: a request's line and headers are a few hundred
	// bytes; 10s is generous on any network.
	readHeaderTimeout = 10 * time.Second
	// readTimeout bounds reading a whole request: a 1 MiB body at 35 KB/s.
	readTimeout = 30 * time.Second
	// idleTimeout closes a keep-alive connection idle this long; clients
	// dial again, which costs a round trip.
	idleTimeout = 2 * time.Minute
)

// writeTimeout bounds a response: a long poll answers within MaxWait, then
// its answer must be written.
var writeTimeout = httpapi.DefaultConfig().MaxWait + 30*time.Second

// newHTTPServer is the API's server with its bounds.
func (n *Node) newHTTPServer(h http.Handler, base context.Context) *http.Server {
	limit := &connLimit{max: n.cfg.MaxHTTPConns, conns: map[net.Conn]*connInfo{}}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnState:         limit.track,
		ErrorLog:          log.New(serverLog{n.log}, "", 0),
	}
}

// serverLog writes the HTTP server's own messages (failed TLS handshakes,
// accept errors, panics in handlers) to the node's structured log: they
// went to stderr as plain lines, in the middle of a JSON log stream. A
// failed TLS handshake, which any port scanner or plain-HTTP client on
// the TLS port causes, is a debug line; the others are warnings.
type serverLog struct{ log *slog.Logger }

func (s serverLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelWarn
	if strings.Contains(msg, "TLS handshake error") {
		level = slog.LevelDebug
	}
	s.log.Log(context.Background(), level, "http server", "detail", msg)
	return len(p), nil
}

// connLimit caps the server's connections at max. A connection past the
// cap makes room by closing the oldest one that is not serving a request
// (idle between requests, or opened and silent); if every one is serving,
// the newcomer is closed. The newest connection is the last to go, so a
// health check that dials afresh gets through a flood of idle ones.
type connLimit struct {
	max   int
	mu    sync.Mutex
	conns map[net.Conn]*connInfo
}

type connInfo struct {
	state http.ConnState
	since time.Time
}

func (l *connLimit) track(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
		return
	case http.StateNew:
		if l.max > 0 && len(l.conns) >= l.max {
			if victim := l.oldestIdle(); victim != nil {
				delete(l.conns, victim)
				victim.Close()
			} else {
				c.Close()
				return
			}
		}
	}
	l.conns[c] = &connInfo{state: state, since: time.Now()}
}

// oldestIdle is the oldest connection not serving a request, or nil.
func (l *connLimit) oldestIdle() net.Conn {
	var victim net.Conn
	var since time.Time
	for c, info := range l.conns {
		if info.state == http.StateActive {
			continue
		}
		if victim == nil || info.since.Before(since) {
			victim, since = c, info.since
		}
	}
	return victim
}

// serveHTTP serves the API (and the profiles, if asked) on the listener.
func (n *Node) serveHTTP() {
	hcfg := httpapi.DefaultConfig()
	hcfg.Member, hcfg.Logger, hcfg.Grains, hcfg.Activations = n.id, n.log, n.host, n.host.Activations
	hcfg.Members = n.members
	hcfg.Registry, hcfg.Kinds = n.cfg.Registry, n.hosted
	hcfg.GrainState, hcfg.TracerProvider = n.grainState, n.tp
	hcfg.Self, hcfg.Cluster = n.selfReport, n.clusterReport
	if n.sched != nil {
		hcfg.Schedules = n.sched
	}
	if c := n.cfg.MaxHTTPConns; c > 0 {
		// Requests held at once stay below the connection cap, so it always
		// finds an idle connection to close for a newcomer (/healthz,
		// Consul's check): long polls hold at most half the connections,
		// other requests a quarter. Long polls filling every connection
		// shut out /healthz, and the member dropped out of the view.
		hcfg.MaxWaiters = min(hcfg.MaxWaiters, max(1, c/2))
		hcfg.MaxInflight = min(hcfg.MaxInflight, max(1, c/4))
	}
	if n.cfg.Embedded() {
		hcfg.Health = func(ctx context.Context) error {
			if err := n.mgr.Ping(ctx); err != nil {
				return err
			}
			if err := n.bolt.Healthy(ctx); err != nil {
				return fmt.Errorf("degraded: the store takes no writes (the task and grain writes that fail are tried again): %w", err)
			}
			return n.host.Ping(ctx)
		}
	} else {
		hcfg.Health = n.healthz
	}
	// Long polls end when the node stops, so shutdown is not held up by
	// clients waiting for tasks.
	baseCtx, cancel := context.WithCancel(context.Background())
	n.cancelRequests = cancel
	n.srv = n.newHTTPServer(n.apiHandler(httpapi.New(n.mgr, hcfg)), baseCtx)
	n.serveErr = make(chan error, 1)
	ln := n.ln
	if n.sec.api != nil {
		ln = newSniffListener(n.ln, n.sec.api, n.cfg.MaxHTTPConns)
	}
	go func() {
		if err := n.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			n.serveErr <- fmt.Errorf("node: HTTP server: %w", err)
		}
	}()
}

// withPprof adds Go's profiles to h when asked for.
func withPprof(on bool, h http.Handler) http.Handler {
	if !on {
		return h
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}
