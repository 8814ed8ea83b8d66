package node_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/testutil"
)

// TestConnectionFlood: a flood of connections that send nothing, or sit
// idle after a request, never takes the API past MaxHTTPConns: the oldest
// of them are closed to make room, and /healthz (and any new client)
// still gets through.
func TestConnectionFlood(t *testing.T) {
	cfg := embedded(t)
	cfg.MaxHTTPConns = 32
	n := start(t, cfg)
	addr := n.HTTPAddr()
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range 400 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		if i%4 == 0 { // every fourth: one request, then idle on keep-alive
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil && i >= 400-cfg.MaxHTTPConns {
				t.Fatalf("a recent connection's request: %v", err)
			}
		}
	}
	ctx := testutil.Context(t, 10*time.Second)
	if h, err := n.Client().Health(ctx); err != nil {
		t.Fatalf("/healthz under the flood: %+v, %v", h, err)
	}
	// The server closed the oldest: count those that read EOF.
	closed := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		buf := make([]byte, 1024)
		for {
			_, err := c.Read(buf)
			if err == nil {
				continue // the rest of an answer
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				closed++
			}
			break
		}
	}
	if open := len(conns) - closed; open > cfg.MaxHTTPConns {
		t.Fatalf("%d of %d connections still open, the cap is %d", open, len(conns), cfg.MaxHTTPConns)
	}
	t.Logf("%d of %d flood connections closed by the server", closed, len(conns))
}
