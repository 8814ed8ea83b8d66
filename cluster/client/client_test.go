package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/internal/testutil"
)

type sleepIn struct {
	MS int `json:"ms"`
}

func start(t *testing.T) (*client.Client, *server) {
	t.Helper()
	reg := actors.NewRegistry()
	echo, _ := actors.NewTask("echo", func(_ actors.TaskContext, p []byte) ([]byte, error) { return p, nil }, actors.WithValidator(actors.ValidJSON))
	sleep := actors.MustTask("sleep", func(ctx actors.TaskContext, in sleepIn) (int, error) {
		ctx.Progress(0.5, "sleeping")
		select {
		case <-time.After(time.Duration(in.MS) * time.Millisecond):
			return in.MS, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	for _, k := range []*actors.TaskKind{echo, sleep} {
		if err := reg.RegisterTask(k); err != nil {
			t.Fatal(err)
		}
	}
	cfg := node.DefaultConfig()
	cfg.Registry, cfg.NodeID, cfg.DataDir, cfg.HTTPAddr = reg, "m1", t.TempDir(), "127.0.0.1:0"
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = n.Stop(ctx)
	})
	srv := &server{URL: "http://" + n.HTTPAddr()}
	c, err := client.New(client.Config{Addr: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// server is where a test's node serves its API.
type server struct{ URL string }

func TestSubmitWaitList(t *testing.T) {
	c, _ := start(t)
	ctx := testutil.Context(t, 20*time.Second)
	st, err := c.Submit(ctx, api.SubmitRequest{Kind: "echo", Payload: json.RawMessage(`{"hello":"world"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if st.ID == "" || st.Kind != "echo" || st.Policy.MaxAttempts == nil || *st.Policy.MaxAttempts != 5 {
		t.Fatalf("submit answered %+v", st)
	}
	var seen []string
	final, err := c.Wait(ctx, st.ID, func(s *api.Status) { seen = append(seen, s.State) })
	if err != nil {
		t.Fatal(err)
	}
	if final.State != api.StateCompleted || string(final.Result) != `{"hello":"world"}` || final.FinishedAt == nil {
		t.Fatalf("final status %+v", final)
	}
	if len(seen) == 0 || seen[len(seen)-1] != api.StateCompleted {
		t.Fatalf("Wait reported states %v, want them to end with completed", seen)
	}
	again, err := c.Submit(ctx, api.SubmitRequest{ID: st.ID, Kind: "echo", Payload: json.RawMessage(`{"hello":"world"}`)})
	if err != nil || again.State != api.StateCompleted {
		t.Fatalf("resubmit = %+v, %v; want the completed task", again, err)
	}
	done, err := c.List(ctx, api.StateCompleted)
	if err != nil || len(done) != 1 || done[0].ID != st.ID {
		t.Fatalf("List(completed) = %v, %v", done, err)
	}
	if running, err := c.List(ctx, api.StateRunning); err != nil || len(running) != 0 {
		t.Fatalf("List(running) = %v, %v; want none", running, err)
	}
}

func TestCancelAndProgress(t *testing.T) {
	c, _ := start(t)
	ctx := testutil.Context(t, 20*time.Second)
	st, err := c.Submit(ctx, api.SubmitRequest{Kind: "sleep", Payload: json.RawMessage(`{"ms":600000}`)})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		got, err := c.Get(ctx, st.ID)
		return err == nil && got.ProgressNote == "sleeping" && got.Progress == 0.5, "no progress yet"
	})
	got, err := c.Cancel(ctx, st.ID)
	if err != nil || got.State != api.StateCancelled || got.Error == "" {
		t.Fatalf("Cancel = %+v, %v", got, err)
	}
	if _, err := c.Cancel(ctx, st.ID); !errors.Is(err, api.ErrFailedPrecondition) {
		t.Fatalf("second cancel: %v, want ErrFailedPrecondition", err)
	}
	if _, err := c.Get(ctx, "missing"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("Get(missing): %v, want ErrNotFound", err)
	}
}

// TestBadInput sends malformed requests at the raw API: each gets a 400 with
// a message that says what is wrong, and nothing is stored.
func TestBadInput(t *testing.T) {
	c, srv := start(t)
	cases := []struct{ name, body, want string }{
		{"empty body", ``, "empty request body"},
		{"not json", `{kind:`, "malformed JSON"},
		{"unknown field", `{"kind":"echo","payloud":1}`, `unknown field "payloud"`},
		{"unknown kind", `{"kind":"ech0"}`, `unknown kind "ech0"`},
		{"payload type", `{"kind":"sleep","payload":{"ms":"soon"}}`, "invalid payload for kind sleep"},
		{"bad duration", `{"kind":"echo","payload":1,"policy":{"attempt_timeout":5}}`, "duration must be a string"},
		{"bad jitter", `{"kind":"echo","payload":1,"policy":{"jitter":"lots"}}`, "policy.jitter"},
		{"over limit", `{"kind":"echo","payload":1,"policy":{"max_attempts":100000}}`, "max_attempts must be at most 1000"},
		{"trailing", `{"kind":"echo","payload":1} {}`, "unexpected data"},
		{"big", `{"kind":"echo","payload":"` + strings.Repeat("x", 1<<20) + `"}`, "request body over"},
	}
	for _, tc := range cases {
		resp, err := http.Post(srv.URL+"/v1/tasks", "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var eb api.ErrorBody
		_ = json.Unmarshal(b, &eb)
		if resp.StatusCode != http.StatusBadRequest || eb.Error.Code != "invalid_argument" || !strings.Contains(eb.Error.Message, tc.want) {
			t.Errorf("%s: HTTP %d %s; want 400 invalid_argument saying %q", tc.name, resp.StatusCode, b, tc.want)
		}
	}
	if _, err := c.Submit(context.Background(), api.SubmitRequest{Kind: "nope"}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("client Submit(unknown kind): %v, want ErrInvalidArgument", err)
	}
	all, err := c.List(context.Background())
	if err != nil || len(all) != 0 {
		t.Fatalf("%d tasks stored after bad input (%v), want 0", len(all), err)
	}
	for _, q := range []string{"/v1/tasks?state=done", "/v1/tasks/x?wait=forever", "/v1/tasks/x?index=-1"} {
		resp, err := http.Get(srv.URL + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: HTTP %d, want 400", q, resp.StatusCode)
		}
	}
}

func TestUnreachableNodeIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	c, err := client.New(client.Config{Addr: addr, RetryFor: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), "x")
	if !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "gave up") {
		t.Fatalf("Get against a closed port: %v, want ErrUnavailable after retries", err)
	}
	if _, err := client.New(client.Config{Addr: "ftp://x"}); err == nil {
		t.Fatal("New accepted an ftp:// address")
	}
}

// TestSubmitAndWait: one request stores the task and answers once it has
// finished; a task that outlasts the node's hold is waited on further; a
// bad wait is refused before anything is stored.
func TestSubmitAndWait(t *testing.T) {
	c, srv := start(t)
	ctx := testutil.Context(t, 20*time.Second)
	var seen []string
	st, err := c.SubmitAndWait(ctx, api.SubmitRequest{Kind: "echo", Payload: json.RawMessage(`{"a":1}`)}, func(s *api.Status) { seen = append(seen, s.State) })
	if err != nil || st.State != api.StateCompleted || string(st.Result) != `{"a":1}` || len(seen) != 1 {
		t.Fatalf("SubmitAndWait = %+v, %v (states seen %v); want completed in one answer", st, err, seen)
	}
	short, err := client.New(client.Config{Addr: srv.URL, PollWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	st, err = short.SubmitAndWait(ctx, api.SubmitRequest{Kind: "sleep", Payload: json.RawMessage(`{"ms":300}`)}, nil)
	if err != nil || st.State != api.StateCompleted {
		t.Fatalf("SubmitAndWait of a task longer than the hold = %+v, %v", st, err)
	}
	resp, err := http.Post(srv.URL+"/v1/tasks?wait=soon", "application/json", strings.NewReader(`{"id":"bad-wait","kind":"echo"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("wait=soon answered %d, want 400", resp.StatusCode)
	}
	if _, err := c.Get(ctx, "bad-wait"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a submit refused for its wait was stored: %v", err)
	}
}

// TestRetryAfter: a node at its limit answers 429 with Retry-After; the
// client waits as asked (not its own shorter backoff) and tries again.
func TestRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var tries []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tries = append(tries, time.Now())
		n := len(tries)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":{"code":"resource_exhausted","message":"busy"}}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"t1","kind":"echo","state":"pending"}`))
	}))
	defer srv.Close()
	c, err := client.New(client.Config{Addr: srv.URL, RetryFor: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Submit(testutil.Context(t, 10*time.Second), api.SubmitRequest{ID: "t1", Kind: "echo"})
	if err != nil || st.ID != "t1" {
		t.Fatalf("Submit after a 429: %+v, %v", st, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(tries) != 2 || tries[1].Sub(tries[0]) < 900*time.Millisecond {
		t.Fatalf("%d tries, %v apart; want 2, a second apart as asked", len(tries), tries[len(tries)-1].Sub(tries[0]))
	}
}
