package node

import (
	"context"
	"log"
	"log/slog"
	"net"
	"net/http"
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
