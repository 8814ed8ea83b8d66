package membership

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/granary-rt/granary/internal/netproxy"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
)

const (
	// testCluster is the cluster every test node joins.
	testCluster = "test"
	// joinTimeout bounds Join: a dev agent answers in milliseconds, but the
	// HTTP check's first run may wait a whole interval, and -race on two
	// shared cores is slow.
	joinTimeout = 30 * time.Second
	// settle bounds waits for Consul to propagate a change to every view:
	// TTL plus check interval plus generous slack for a loaded machine.
	settle = 15 * time.Second
)

// healthServer answers HealthPath like a node's HTTP API. Its status can be
// switched (a "fake-dead" node answers 500) and it can go down and come back
// on the same address (a killed node refuses connections).
type healthServer struct {
	t      testing.TB
	addr   string
	status atomic.Int32

	mu  sync.Mutex
	srv *http.Server
	wg  sync.WaitGroup
}

func startHealth(t testing.TB) *healthServer {
	t.Helper()
	h := &healthServer{t: t}
	h.status.Store(http.StatusOK)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	h.serve(ln)
	t.Cleanup(h.Down)
	return h
}

func (h *healthServer) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != HealthPath {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(h.status.Load()))
	})}
	h.mu.Lock()
	h.srv = srv
	h.mu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		srv.Serve(ln)
	}()
}

// SetStatus makes HealthPath answer code.
func (h *healthServer) SetStatus(code int) { h.status.Store(int32(code)) }

// Down closes the listener and every connection, as a killed process would.
func (h *healthServer) Down() {
	h.mu.Lock()
	srv := h.srv
	h.srv = nil
	h.mu.Unlock()
	if srv != nil {
		srv.Close()
		h.wg.Wait()
	}
}

// Up serves again on the same address.
func (h *healthServer) Up() {
	h.t.Helper()
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		h.t.Fatalf("health server back up on %s: %v", h.addr, err)
	}
	h.serve(ln)
}

// testNode is one Membership with its health endpoint and, optionally, a
// severable proxy between it and Consul.
type testNode struct {
	id     string
	health *healthServer
	proxy  *netproxy.Proxy // nil: the node talks to Consul directly
	m      *Membership

	mu         sync.Mutex
	fencedAt   []time.Time
	unfencedAt []time.Time
}

type nodeOptions struct {
	viaProxy bool
	modify   func(*Config)
}

var nodePort atomic.Int32

// testConfig is the Config of node id talking to Consul at consulAddr.
func testConfig(t testing.TB, id, consulAddr, httpAddr string) Config {
	cfg := DefaultConfig()
	cfg.Cluster = testCluster
	cfg.NodeID = id
	// Nobody dials the node-to-node address in these tests; it only has to
	// be a valid and distinct host:port.
	cfg.Addr = fmt.Sprintf("127.0.0.1:%d", 17000+nodePort.Add(1))
	cfg.HTTPAddr = httpAddr
	cfg.Kinds = []string{"whoami", "counter"}
	cfg.Version = "app v1.2.3 (" + id + ")"
	cfg.Consul = &api.Config{Address: consulAddr, Scheme: "http"}
	cfg.Logger = testutil.Logger(t, slog.LevelInfo)
	return cfg
}

// joinNode starts a health endpoint and joins node id through agent. The
// node leaves when the test ends.
func joinNode(t testing.TB, agent *testconsul.Agent, id string, opts nodeOptions) *testNode {
	t.Helper()
	n := &testNode{id: id, health: startHealth(t)}
	consulAddr := agent.HTTPAddr()
	if opts.viaProxy {
		p, err := netproxy.New("127.0.0.1:0", consulAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		n.proxy = p
		consulAddr = p.Addr()
	}
	cfg := testConfig(t, id, consulAddr, n.health.addr)
	cfg.OnFence = func() { n.record(&n.fencedAt) }
	cfg.OnUnfence = func() { n.record(&n.unfencedAt) }
	if opts.modify != nil {
		opts.modify(&cfg)
	}
	began := time.Now()
	m, err := Join(testutil.Context(t, joinTimeout), cfg)
	if err != nil {
		t.Fatalf("join %s: %v", id, err)
	}
	t.Logf("%s joined in %v", id, time.Since(began).Round(time.Millisecond))
	n.m = m
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Leave(ctx); err != nil {
			t.Logf("leave %s at cleanup: %v", id, err)
		}
	})
	return n
}

// joinNodes joins nodes concurrently; a cluster start-up is concurrent too.
func joinNodes(t *testing.T, agent *testconsul.Agent, ids ...string) []*testNode {
	t.Helper()
	nodes := make([]*testNode, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		n := &testNode{id: id, health: startHealth(t)}
		cfg := testConfig(t, id, agent.HTTPAddr(), n.health.addr)
		cfg.OnFence = func() { n.record(&n.fencedAt) }
		cfg.OnUnfence = func() { n.record(&n.unfencedAt) }
		nodes[i] = n
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.m, errs[i] = Join(testutil.Context(t, joinTimeout), cfg)
		}()
	}
	wg.Wait()
	for i, n := range nodes {
		if errs[i] != nil {
			t.Fatalf("join %s: %v", n.id, errs[i])
		}
		m := n.m
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := m.Leave(ctx); err != nil {
				t.Logf("leave %s at cleanup: %v", n.id, err)
			}
		})
	}
	return nodes
}

func (n *testNode) record(into *[]time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	*into = append(*into, time.Now())
}

// fences returns how many times OnFence and OnUnfence were called, and the
// time of the first OnFence after since.
func (n *testNode) fences(since time.Time) (fenced, unfenced int, firstFenceAfter time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, at := range n.fencedAt {
		if at.After(since) {
			firstFenceAfter = at
			break
		}
	}
	return len(n.fencedAt), len(n.unfencedAt), firstFenceAfter
}

// lastRenewAge is how old the node's last successful renewal is.
func (n *testNode) lastRenewAge() time.Duration {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	return time.Since(n.m.lastRenew)
}

// seesExactly reports whether n's view lists exactly ids.
func seesExactly(n *testNode, ids ...string) (bool, string) {
	got := n.m.View().IDs()
	want := slices.Sorted(slices.Values(ids))
	if slices.Equal(got, want) {
		return true, ""
	}
	return false, fmt.Sprintf("%s sees %v, want %v", n.id, got, want)
}

// allSeeExactly reports whether every node in nodes sees exactly ids.
func allSeeExactly(nodes []*testNode, ids ...string) func() (bool, string) {
	return func() (bool, string) {
		var why []string
		for _, n := range nodes {
			if ok, w := seesExactly(n, ids...); !ok {
				why = append(why, w)
			}
		}
		return len(why) == 0, strings.Join(why, "; ")
	}
}

// healthyWithSession reports whether every node is unfenced and holds a
// session Consul knows.
func healthyWithSession(t testing.TB, agent *testconsul.Agent, nodes ...*testNode) func() (bool, string) {
	return func() (bool, string) {
		for _, n := range nodes {
			if n.m.Fenced() {
				return false, n.id + " is fenced"
			}
			s := n.m.Session()
			if s == "" {
				return false, n.id + " has no session"
			}
			info, _, err := agent.Client().Session().Info(s, nil)
			if err != nil {
				return false, fmt.Sprintf("session info of %s: %v", n.id, err)
			}
			if info == nil {
				return false, fmt.Sprintf("%s's session %s is unknown to Consul", n.id, s)
			}
		}
		return true, ""
	}
}

// viewLog records, with arrival times, every view a node's Watch delivers.
type viewLog struct {
	mu      sync.Mutex
	entries []viewEntry
}

type viewEntry struct {
	at  time.Time
	ids []string
}

// recordViews follows n's views until the test ends.
func recordViews(t testing.TB, n *testNode) *viewLog {
	l := &viewLog{}
	ch, cancel := n.m.Watch()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for v := range ch {
			l.mu.Lock()
			l.entries = append(l.entries, viewEntry{at: time.Now(), ids: v.IDs()})
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return l
}

// firstAfter returns the arrival time of the first view after since for
// which want holds.
func (l *viewLog) firstAfter(since time.Time, want func(ids []string) bool) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if e.at.After(since) && want(e.ids) {
			return e.at, true
		}
	}
	return time.Time{}, false
}

func without(id string) func([]string) bool {
	return func(ids []string) bool { return !slices.Contains(ids, id) }
}

func with(id string) func([]string) bool {
	return func(ids []string) bool { return slices.Contains(ids, id) }
}

// waitFor polls until the view log holds a view after since satisfying
// want, and returns its arrival time.
func waitFor(t testing.TB, l *viewLog, since time.Time, timeout time.Duration, what string, want func([]string) bool) time.Time {
	t.Helper()
	var at time.Time
	testutil.Eventually(t, timeout, func() (bool, string) {
		var ok bool
		at, ok = l.firstAfter(since, want)
		return ok, what
	})
	return at
}

// sessionGone reports whether Consul no longer knows session id.
func sessionGone(agent *testconsul.Agent, id string) func() (bool, string) {
	return func() (bool, string) {
		info, _, err := agent.Client().Session().Info(id, nil)
		if err != nil {
			return false, err.Error()
		}
		if info != nil {
			return false, "session " + id + " still exists"
		}
		return true, ""
	}
}

// assertNoGoroutines fails the test if any goroutine still runs code of a
// Membership: Leave (or a failed Join) must have stopped them all.
func assertNoGoroutines(t testing.TB) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "cluster/membership.(*Membership)") {
				return false, "goroutine still running:\n" + g
			}
		}
		return true, ""
	})
}
