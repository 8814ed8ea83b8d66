package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testutil"
)

// countingProxy forwards to target, counting requests by path. It holds
// every request until releaseWhen sees all the test's submits either in a
// held request or queued in the client: the client's senders are then all
// busy, and the other submits wait behind them to share requests.
type countingProxy struct {
	mu      sync.Mutex
	paths   map[string]int
	held    int // submits in held requests
	release chan struct{}
	once    sync.Once
	// intercept, if set, may answer a request itself (true) instead.
	intercept func(w http.ResponseWriter, r *http.Request, fwd http.Handler) bool
}

func newCountingProxy(t *testing.T, target string) (*countingProxy, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{paths: map[string]int{}, release: make(chan struct{})}
	fwd := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		submits := 0
		switch r.URL.Path {
		case "/v1/tasks":
			submits = 1
		case "/v1/tasks:batch":
			var b api.SubmitBatchRequest
			_ = json.Unmarshal(body, &b)
			submits = len(b.Tasks)
		}
		p.mu.Lock()
		p.paths[r.URL.Path]++
		p.held += submits
		p.mu.Unlock()
		<-p.release
		if p.intercept != nil && p.intercept(w, r, fwd) {
			return
		}
		fwd.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(p.open) // a test that fails early must not leave requests held
	return p, srv.URL
}

// releaseWhen lets the held requests go once n submits of c are held or
// queued (at once if it has already let them go).
func (p *countingProxy) releaseWhen(t *testing.T, c *client.Client, n int) {
	t.Helper()
	select {
	case <-p.release:
		return
	default:
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		p.mu.Lock()
		held := p.held
		p.mu.Unlock()
		queued := client.QueuedSubmits(c)
		return held+queued >= n, fmt.Sprintf("%d submits held and %d queued, want %d", held, queued, n)
	})
	p.open()
}

func (p *countingProxy) open() { p.once.Do(func() { close(p.release) }) }

func (p *countingProxy) count(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paths[path]
}

// TestCoalescedSubmits: concurrent submits share requests, and every caller
// gets its own answer: its own result, its own error for bad input (with
// nothing stored for it), created once for a repeated id.
func TestCoalescedSubmits(t *testing.T) {
	c, srv := start(t)
	p, addr := newCountingProxy(t, srv.URL)
	cc, err := client.New(client.Config{Addr: addr, Coalesce: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type outcome struct {
		st  *api.Status
		err error
	}
	out := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := api.SubmitRequest{ID: fmt.Sprintf("co-%d", i), Kind: "echo", Payload: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
			switch {
			case i%10 == 3:
				req.Kind = "nope" // bad input
			case i%10 == 7:
				req.ID = "co-shared" // the same submit from many callers
				req.Payload = json.RawMessage(`{"shared":true}`)
			}
			st, err := cc.SubmitAndWait(ctx, req, nil)
			out[i] = outcome{st, err}
		}()
	}
	p.releaseWhen(t, cc, n)
	wg.Wait()
	for i, o := range out {
		switch i % 10 {
		case 3:
			if !errors.Is(o.err, api.ErrInvalidArgument) || !strings.Contains(o.err.Error(), `unknown kind "nope"`) {
				t.Errorf("submit %d (unknown kind): %v, want invalid_argument naming the kind", i, o.err)
			}
		case 7:
			if o.err != nil || o.st.ID != "co-shared" || o.st.State != api.StateCompleted || string(o.st.Result) != `{"shared":true}` {
				t.Errorf("submit %d (shared id): %+v, %v", i, o.st, o.err)
			}
		default:
			if o.err != nil || o.st.ID != fmt.Sprintf("co-%d", i) || o.st.State != api.StateCompleted || string(o.st.Result) != fmt.Sprintf(`{"i":%d}`, i) {
				t.Errorf("submit %d: %+v, %v; want its own task completed with its own result", i, o.st, o.err)
			}
		}
	}
	batches, singles := p.count("/v1/tasks:batch"), p.count("/v1/tasks")
	if batches == 0 || batches+singles > n/4 {
		t.Errorf("%d submits took %d batch and %d single requests; want them to share requests", n, batches, singles)
	}
	all, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := n - n/10 - n/10 + 1; len(all) != want {
		t.Errorf("%d tasks stored, want %d (one per good id, none for bad input)", len(all), want)
	}
	for _, st := range all {
		if st.Attempts != 1 || st.State != api.StateCompleted {
			t.Errorf("task %s: %s after %d attempts, want completed after 1", st.ID, st.State, st.Attempts)
		}
	}
}

// TestCoalescedSubmitsSurviveALostAnswer: the answer to a batch is lost
// after the node stored its tasks; every caller retries, finds its task,
// and nothing runs twice.
func TestCoalescedSubmitsSurviveALostAnswer(t *testing.T) {
	c, srv := start(t)
	p, addr := newCountingProxy(t, srv.URL)
	var dropped atomic.Bool
	p.intercept = func(w http.ResponseWriter, r *http.Request, fwd http.Handler) bool {
		if r.URL.Path != "/v1/tasks:batch" || !dropped.CompareAndSwap(false, true) {
			return false
		}
		rec := httptest.NewRecorder()
		fwd.ServeHTTP(rec, r) // the node stores the tasks...
		if rec.Code != http.StatusOK {
			t.Errorf("batch answered %d: %s", rec.Code, rec.Body)
		}
		hj, ok := w.(http.Hijacker) // ...and the answer is lost
		if !ok {
			t.Error("cannot hijack")
			return false
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	}
	cc, err := client.New(client.Config{Addr: addr, Coalesce: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := cc.SubmitAndWait(ctx, api.SubmitRequest{ID: fmt.Sprintf("lost-%d", i), Kind: "echo", Payload: json.RawMessage(`1`)}, nil)
			if err == nil && st.State != api.StateCompleted {
				err = fmt.Errorf("ended %s", st.State)
			}
			errs[i] = err
		}()
	}
	p.releaseWhen(t, cc, n)
	wg.Wait()
	if !dropped.Load() {
		t.Fatal("no batch was sent, so none was lost")
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("submit %d: %v", i, err)
		}
	}
	all, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Errorf("%d tasks stored, want %d", len(all), n)
	}
	for _, st := range all {
		if st.Attempts != 1 {
			t.Errorf("task %s ran %d attempts, want 1: a lost answer must not run it again", st.ID, st.Attempts)
		}
	}
}

// TestCoalesceWithoutBatchRoute: a node without the batch route (404) gets
// the submits one by one, and the client stops trying batches.
func TestCoalesceWithoutBatchRoute(t *testing.T) {
	_, srv := start(t)
	p, addr := newCountingProxy(t, srv.URL)
	p.intercept = func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if r.URL.Path == "/v1/tasks:batch" {
			http.NotFound(w, r)
			return true
		}
		return false
	}
	cc, err := client.New(client.Config{Addr: addr, Coalesce: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for round := 0; round < 2; round++ {
		var wg sync.WaitGroup
		var failed atomic.Int32
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := cc.Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("old-%d-%d", round, i), Kind: "echo", Payload: json.RawMessage(`1`)}); err != nil {
					t.Errorf("submit: %v", err)
					failed.Add(1)
				}
			}()
		}
		p.releaseWhen(t, cc, 50)
		wg.Wait()
		if failed.Load() > 0 {
			return
		}
	}
	if b := p.count("/v1/tasks:batch"); b == 0 || b > 4 {
		t.Errorf("%d batch requests; want at least one, and none after the node said it has no batch route", b)
	}
	if s := p.count("/v1/tasks"); s < 100-4 {
		t.Errorf("%d single submits, want nearly all 100", s)
	}
}

// TestBatchBadInput: a malformed or oversized batch is refused whole;
// within a good batch, each bad task gets its own error and is not stored.
func TestBatchBadInput(t *testing.T) {
	c, srv := start(t)
	many := make([]string, api.MaxBatch+1)
	for i := range many {
		many[i] = `{"kind":"echo","payload":1}`
	}
	for _, tc := range []struct{ name, body, want string }{
		{"empty", `{"tasks":[]}`, "a batch holds 1 to 256 tasks, got 0"},
		{"too many", `{"tasks":[` + strings.Join(many, ",") + `]}`, "got 257"},
		{"not json", `{"tasks":[`, "malformed JSON"},
		{"unknown field", `{"taks":[]}`, "unknown field"},
		{"big", `{"tasks":[{"kind":"echo","payload":"` + strings.Repeat("x", 9<<20) + `"}]}`, "request body over"},
	} {
		resp, err := http.Post(srv.URL+"/v1/tasks:batch", "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: HTTP %d %.200s; want 400 saying %q", tc.name, resp.StatusCode, b, tc.want)
		}
	}
	resp, err := http.Post(srv.URL+"/v1/tasks:batch?wait=5s", "application/json", strings.NewReader(
		`{"tasks":[{"id":"b-1","kind":"echo","payload":1},{"id":"b-2","kind":"nope"},{"id":"b 3","kind":"echo"},{"id":"b-1","kind":"echo","payload":2}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var out api.SubmitBatchResponse
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(out.Results) != 4 {
		t.Fatalf("mixed batch: HTTP %d, %+v, %v", resp.StatusCode, out, err)
	}
	r := out.Results
	// b-1 twice with different payloads: one is created, the other is
	// refused as a different task under a taken id (which one depends on
	// which gets there first).
	ok1, ok4 := r[0].Code == http.StatusCreated, r[3].Code == http.StatusCreated
	if ok1 == ok4 || (!ok1 && r[0].Error.Code != "already_exists") || (!ok4 && r[3].Error.Code != "already_exists") {
		t.Errorf("b-1 twice: %+v and %+v; want one created, one already_exists", r[0], r[3])
	}
	if r[1].Code != http.StatusBadRequest || r[1].Error == nil || !strings.Contains(r[1].Error.Message, `unknown kind "nope"`) {
		t.Errorf("unknown kind in a batch: %+v", r[1])
	}
	if r[2].Code != http.StatusBadRequest || r[2].Error == nil || !strings.Contains(r[2].Error.Message, `task id "b 3" must match`) {
		t.Errorf("bad id in a batch: %+v", r[2])
	}
	all, err := c.List(context.Background())
	if err != nil || len(all) != 1 || all[0].ID != "b-1" {
		t.Fatalf("stored after the batches: %+v (%v), want only b-1", all, err)
	}
}

// TestCoalescedSlowTaskHoldsNobody: SubmitAndWait callers whose submits
// share a request with slow tasks get their answers when their own tasks
// finish, not when the slowest of the batch does.
func TestCoalescedSlowTaskHoldsNobody(t *testing.T) {
	_, srv := start(t)
	p, addr := newCountingProxy(t, srv.URL)
	cc, err := client.New(client.Config{Addr: addr, Coalesce: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n, slowMS = 60, 2000
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lastFast time.Time
	firstSlow := time.Now().Add(time.Hour)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := api.SubmitRequest{Kind: "echo", Payload: json.RawMessage(`1`)}
			slow := i%6 == 0
			if slow {
				req = api.SubmitRequest{Kind: "sleep", Payload: json.RawMessage(fmt.Sprintf(`{"ms":%d}`, slowMS))}
			}
			st, err := cc.SubmitAndWait(ctx, req, nil)
			if err != nil || st.State != api.StateCompleted {
				t.Errorf("submit %d: %+v, %v", i, st, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if slow && st.FinishedAt.Before(firstSlow) {
				firstSlow = *st.FinishedAt
			}
			if now := time.Now(); !slow && now.After(lastFast) {
				lastFast = now
			}
		}()
	}
	p.releaseWhen(t, cc, n)
	wg.Wait()
	if p.count("/v1/tasks:batch") == 0 {
		t.Fatal("no submits were batched")
	}
	if !lastFast.Before(firstSlow) {
		t.Errorf("the last quick task's caller returned at %s, after the first slow task finished at %s: a batch held it", lastFast.Format(time.StampMicro), firstSlow.Format(time.StampMicro))
	}
}

// TestSubmitBatch: one request, one result per task in order; tasks
// without an id get one; a batch too large is refused before sending.
func TestSubmitBatch(t *testing.T) {
	c, _ := start(t)
	ctx := context.Background()
	res, err := c.SubmitBatch(ctx, []api.SubmitRequest{
		{Kind: "echo", Payload: json.RawMessage(`1`)},
		{ID: "sb-2", Kind: "nope"},
		{ID: "sb-3", Kind: "echo", Payload: json.RawMessage(`3`)},
	})
	if err != nil || len(res) != 3 {
		t.Fatalf("SubmitBatch: %v, %d results", err, len(res))
	}
	if res[0].Err() != nil || res[0].Code != http.StatusCreated || !strings.HasPrefix(res[0].Task.ID, "t-") {
		t.Errorf("task without id: %+v, %v", res[0], res[0].Err())
	}
	if err := res[1].Err(); !errors.Is(err, api.ErrInvalidArgument) {
		t.Errorf("unknown kind: %v, want invalid_argument", err)
	}
	if res[2].Err() != nil || res[2].Task.ID != "sb-3" {
		t.Errorf("sb-3: %+v", res[2])
	}
	if _, err := c.SubmitBatch(ctx, make([]api.SubmitRequest, api.MaxBatch+1)); !errors.Is(err, api.ErrInvalidArgument) {
		t.Errorf("a batch of %d: %v, want invalid_argument", api.MaxBatch+1, err)
	}
}
