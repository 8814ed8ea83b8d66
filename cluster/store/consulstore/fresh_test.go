package consulstore_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/messages"
	"github.com/hashicorp/consul/api"
)

// behindProxy stands between a store and a real Consul agent and can play
// a server that is behind its log: while replaying, a default-consistency
// read it has answered before gets that earlier answer again; consistent
// reads always reach Consul. It can also answer as a leaderless server.
type behindProxy struct {
	proxy *httputil.ReverseProxy

	mu       sync.Mutex
	recorded map[string]recorded // by method and URL path (query left out)
	replay   bool
	// failing, when not "", is the body of a 500 answer to every request.
	failing    string
	consistent int // consistent reads seen
}

type recorded struct {
	status int
	header http.Header
	body   []byte
}

func newBehindProxy(t *testing.T, agent *testconsul.Agent) (*behindProxy, *api.Client) {
	p := &behindProxy{proxy: proxyTo(agent), recorded: map[string]recorded{}}
	return p, clientThrough(t, p)
}

// proxyTo is a reverse proxy to agent's HTTP API.
func proxyTo(agent *testconsul.Agent) *httputil.ReverseProxy {
	target, _ := url.Parse("http://" + agent.HTTPAddr())
	return httputil.NewSingleHostReverseProxy(target)
}

// clientThrough is a Consul client whose requests h serves (a proxy in
// front of an agent), for the test's life.
func clientThrough(t *testing.T, h http.Handler) *api.Client {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := api.DefaultConfig()
	cfg.Address = srv.Listener.Addr().String()
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *behindProxy) set(replay bool, failing string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.replay, p.failing = replay, failing
}

func (p *behindProxy) consistentReads() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.consistent
}

func (p *behindProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	_, consistent := r.URL.Query()["consistent"]
	p.mu.Lock()
	if consistent {
		p.consistent++
	}
	rec, seen := p.recorded[key]
	replay, failing := p.replay && seen && !consistent && r.Method == http.MethodGet, p.failing
	p.mu.Unlock()
	switch {
	case failing != "":
		http.Error(w, failing, http.StatusInternalServerError)
		return
	case replay:
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body)
		return
	}
	rw := &recorder{ResponseWriter: w, status: http.StatusOK}
	p.proxy.ServeHTTP(rw, r)
	if r.Method == http.MethodGet && !consistent {
		p.mu.Lock()
		if !p.replay { // keep the first answers: they are the old ones
			p.recorded[key] = recorded{status: rw.status, header: w.Header().Clone(), body: rw.body.Bytes()}
		}
		p.mu.Unlock()
	}
}

type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }
func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// TestReadsNeverGoBack: a Consul server that answers from behind its log
// (a restarted server or a new leader, replayed here by a proxy) never
// makes the store answer an older revision of a task than it has read or
// written, nor "not found" for a task it knows: the stale read is made
// again, consistently, and the newer record comes back.
func TestReadsNeverGoBack(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	proxy, c := newBehindProxy(t, agent)
	s, err := consulstore.New(c, consulstore.DefaultConfig("fresh"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	rec, _, err := s.Create(ctx, storetest.NewTask("t1", "m1"))
	if err != nil {
		t.Fatal(err)
	}
	// The old answers: t1 pending, and a listing of every task.
	if _, err := s.Get(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(ctx, store.Filter{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "t2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(t2) before it exists = %v", err)
	}
	done := rec.Task
	done.Status.State, done.Status.Result = messages.TaskState_TASK_STATE_COMPLETED, []byte(`"done"`)
	newer, err := s.Update(ctx, done, rec.Revision)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, storetest.NewTask("t2", "m1")); err != nil {
		t.Fatal(err)
	}

	proxy.set(true, "") // from now on, default reads come from behind
	before := proxy.consistentReads()
	got, err := s.Get(ctx, "t1")
	if err != nil || got.Revision != newer.Revision || got.Task.GetStatus().GetState() != messages.TaskState_TASK_STATE_COMPLETED {
		t.Fatalf("Get(t1) from a server behind = revision %d %v, %v; want revision %d completed", got.Revision, got.Task.GetStatus().GetState(), err, newer.Revision)
	}
	if _, err := s.Get(ctx, "t2"); err != nil {
		t.Fatalf("Get(t2), created by this store, from a server behind: %v", err)
	}
	list, err := s.List(ctx, store.Filter{})
	if err != nil || len(list) != 2 {
		t.Fatalf("List from a server behind = %d records, %v; want t1 and t2", len(list), err)
	}
	for _, r := range list {
		if r.Task.GetSpec().GetId() == "t1" && r.Revision != newer.Revision {
			t.Fatalf("List gave t1 at revision %d, after this store wrote %d", r.Revision, newer.Revision)
		}
	}
	if proxy.consistentReads() == before {
		t.Fatal("no consistent read reached Consul: the fresh answers came from elsewhere")
	}
}

// TestReadsAreConsistentAfterAnOutage: after Consul answered as a server
// without a leader, the store's reads are consistent for a while (a
// restarted server may answer before it has applied its log, even for
// tasks this process never saw), and the failure itself is unavailable.
func TestReadsAreConsistentAfterAnOutage(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	proxy, c := newBehindProxy(t, agent)
	s, err := consulstore.New(c, consulstore.DefaultConfig("outage"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := s.Create(ctx, storetest.NewTask("t1", "m1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "t1"); err != nil || proxy.consistentReads() != 0 {
		t.Fatalf("a read before any failure: %v, %d consistent reads; want a default read", err, proxy.consistentReads())
	}
	// Consul's answers while it has no leader, loses it, or shuts down.
	for _, answer := range []string{"No cluster leader", "raft apply failed: leadership lost while committing log",
		"raft is already shutdown", "rpc error making call: EOF", "Not ready to serve consistent reads"} {
		proxy.set(false, answer)
		if _, _, err := s.Create(ctx, storetest.NewTask("t2", "m1")); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("a write answered %q = %v, want unavailable", answer, err)
		}
		if _, err := s.Get(ctx, "t1"); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("a read answered %q = %v, want unavailable", answer, err)
		}
	}
	proxy.set(false, "")
	if _, err := s.Get(ctx, "t1"); err != nil || proxy.consistentReads() == 0 {
		t.Fatalf("a read after the outage: %v, %d consistent reads; want a consistent read", err, proxy.consistentReads())
	}
}
