package node

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestSlowClientsAreCut: a request whose body trickles in (a byte every
// 300ms) is cut off at the read time-out, not held as long as the client
// likes; one that never finishes its headers is cut at the header time-out.
func TestSlowClientsAreCut(t *testing.T) {
	readHeaderTimeout, readTimeout = 500*time.Millisecond, time.Second
	t.Cleanup(func() { readHeaderTimeout, readTimeout = 10*time.Second, 30*time.Second })
	reg := actors.NewRegistry()
	if err := reg.RegisterTask(actors.MustTask("echo", func(_ actors.TaskContext, s string) (string, error) { return s, nil })); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Registry, cfg.DataDir, cfg.HTTPAddr = reg, t.TempDir(), "127.0.0.1:0"
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(testutil.Context(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(testutil.Context(t, 5*time.Second)) })

	for name, start := range map[string]string{
		"a trickling body":   "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
		"unfinished headers": "GET /healthz HTTP/1.1\r\nHost: x\r\n",
	} {
		c, err := net.Dial("tcp", n.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, start)
		began := time.Now()
		cut := false
		for time.Since(began) < 10*time.Second && !cut {
			time.Sleep(300 * time.Millisecond)
			if _, err := c.Write([]byte(" ")); err != nil {
				cut = true
				break
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
			buf := make([]byte, 512)
			if _, err := c.Read(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				cut = true
			}
		}
		if !cut || time.Since(began) > 5*time.Second {
			t.Fatalf("%s: cut %v after %v; want cut within a few seconds", name, cut, time.Since(began))
		}
	}
}

// TestHTTPSOnlyAdviceNamesTheCA: a plain-HTTP request to a node that
// serves HTTPS is told how to get there: https:// for an address, and
// --ca for --cluster (whose addresses come from Consul, scheme-less);
// it said only "use https://", which cannot apply to --cluster.
func TestHTTPSOnlyAdviceNamesTheCA(t *testing.T) {
	rec := httptest.NewRecorder()
	httpsOnly(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/members", nil))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "--ca FILE") || !strings.Contains(rec.Body.String(), "https://") {
		t.Errorf("plain HTTP to an HTTPS node: %d %s; want 400 naming https:// and --ca", rec.Code, rec.Body.String())
	}
}
