package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
)

// blockingService holds every submit and long poll until released.
type blockingService struct {
	httpapi.TaskService
	entered chan string
	release chan struct{}
}

func (b *blockingService) Member() string { return "m1" }

func (b *blockingService) Submit(ctx context.Context, sub tasks.Submission) (store.Record, bool, error) {
	b.entered <- "submit"
	<-b.release
	t := &messages.Task{Spec: &messages.TaskSpec{Id: sub.ID, Kind: sub.Kind}, Status: &messages.TaskStatus{State: messages.TaskState_TASK_STATE_PENDING}}
	return store.Record{Task: t, Revision: 1}, true, nil
}

func (b *blockingService) Wait(ctx context.Context, id string, after uint64) (store.Record, error) {
	b.entered <- "wait"
	<-b.release
	return store.Record{}, api.ErrNotFound
}

func (b *blockingService) Get(ctx context.Context, id string) (store.Record, error) {
	return store.Record{}, api.ErrNotFound
}

// TestAdmission: past MaxInflight requests (MaxWaiters long polls) a node
// answers 429 with Retry-After at once and does nothing; /healthz always
// answers; what was admitted completes, and the node takes work again.
func TestAdmission(t *testing.T) {
	svc := &blockingService{entered: make(chan string, 10), release: make(chan struct{})}
	cfg := httpapi.DefaultConfig()
	cfg.MaxInflight, cfg.MaxWaiters = 2, 1
	srv := httptest.NewServer(httpapi.New(svc, cfg))
	defer srv.Close()
	post := func() *http.Response {
		resp, err := http.Post(srv.URL+"/v1/tasks", "application/json", strings.NewReader(`{"kind":"k"}`))
		if err != nil {
			t.Error(err)
			return nil
		}
		return resp
	}
	get := func(q string) *http.Response {
		resp, err := http.Get(srv.URL + "/v1/tasks/t1" + q)
		if err != nil {
			t.Error(err)
			return nil
		}
		return resp
	}
	var wg sync.WaitGroup
	held := make(chan *http.Response, 3)
	for _, f := range []func() *http.Response{post, post, func() *http.Response { return get("?wait=10s") }} {
		wg.Add(1)
		go func() { defer wg.Done(); held <- f() }()
	}
	for range 3 { // two submits and a long poll are in the service
		select {
		case <-svc.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the first requests did not reach the service")
		}
	}
	for name, resp := range map[string]*http.Response{"a third submit": post(), "a second long poll": get("?index=1")} {
		var body api.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || body.Error.Code != "resource_exhausted" {
			t.Fatalf("%s at the limit: %d, Retry-After %q, %+v", name, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz at the limit: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if resp := get(""); resp.StatusCode != http.StatusTooManyRequests { // a plain read takes a work slot: none left
		t.Fatalf("a plain read with every work slot taken: %d", resp.StatusCode)
	} else {
		resp.Body.Close()
	}
	close(svc.release)
	wg.Wait()
	close(held)
	for resp := range held {
		resp.Body.Close()
	}
	if resp := post(); resp.StatusCode != http.StatusCreated {
		t.Fatalf("a submit after the load: %d", resp.StatusCode)
	}
}

// TestBodyBudget: bodies being read count against MaxBodyBytesInFlight by
// their Content-Length (chunked ones by their route's limit); past it a
// request is refused 429 before its body is read, and the budget comes
// back when the requests end. Without it, MaxInflight batches of
// MaxBatchBytes (gigabytes) were all read at once.
func TestBodyBudget(t *testing.T) {
	svc := &blockingService{entered: make(chan string, 10), release: make(chan struct{})}
	close(svc.release) // submits do not block here
	cfg := httpapi.DefaultConfig()
	cfg.MaxBodyBytes, cfg.MaxBatchBytes, cfg.MaxBodyBytesInFlight = 4<<10, 64<<10, 100<<10
	srv := httptest.NewServer(httpapi.New(svc, cfg))
	defer srv.Close()
	// A body that never ends: the server reads it until MaxBatchBytes,
	// holding its reservation (the route's limit, as it is chunked).
	pr, pw := io.Pipe()
	defer pw.Close()
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/tasks:batch", pr)
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	if _, err := pw.Write([]byte(`{"tasks":[`)); err != nil {
		t.Fatal(err)
	}
	// 64 KiB of 100 are held: a second chunked batch does not fit, a small
	// submit does.
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		code, err := postEmptyChunkedBatch(srv.URL)
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusTooManyRequests, fmt.Sprintf("a second chunked batch: %d, want 429", code)
	})
	resp, err := http.Post(srv.URL+"/v1/tasks", "application/json", strings.NewReader(`{"kind":"k"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		t.Fatalf("a 12-byte submit beside one chunked batch: 429; want it admitted")
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-done
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		code, err := postEmptyChunkedBatch(srv.URL)
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusBadRequest, fmt.Sprintf("a chunked batch after the first ended: %d, want 400 (empty batch)", code)
	})
}

// postEmptyChunkedBatch posts an empty batch without a Content-Length, so
// the server reserves the route's whole limit for it, and returns the
// status code.
func postEmptyChunkedBatch(base string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/v1/tasks:batch", strings.NewReader(`{"tasks":[]}`))
	if err != nil {
		return 0, err
	}
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (b *blockingService) Find(ctx context.Context, f store.Filter) ([]store.Record, error) {
	b.entered <- "find"
	<-b.release
	return nil, nil
}

// TestReadBudget: page reads past MaxReadBytesInFlight are answered 429
// with Retry-After at once; once the reads in flight end, listings are
// served again.
func TestReadBudget(t *testing.T) {
	svc := &blockingService{entered: make(chan string, 10), release: make(chan struct{})}
	cfg := httpapi.DefaultConfig()
	cfg.MaxPageBytes = 1 << 20
	// Room for one page read (1 MiB and a chunk of records), not two.
	cfg.MaxReadBytesInFlight = 1<<20 + 8*tasks.MaxRecordBytes
	srv := httptest.NewServer(httpapi.New(svc, cfg))
	defer srv.Close()
	first := make(chan int, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/v1/tasks")
		if err != nil {
			first <- 0
			return
		}
		_ = resp.Body.Close()
		first <- resp.StatusCode
	}()
	<-svc.entered
	for _, path := range []string{"/v1/tasks?limit=5", "/v1/jobs/j/tasks"} {
		resp, _ := send(t, http.MethodGet, srv.URL+path)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("GET %s with the read budget taken: %d Retry-After %q, want 429 with Retry-After", path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	close(svc.release)
	if code := <-first; code != http.StatusOK {
		t.Fatalf("the read admitted first answered %d, want 200", code)
	}
	if resp, body := send(t, http.MethodGet, srv.URL+"/v1/tasks"); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/tasks after the reads ended: %d %s", resp.StatusCode, body)
	}
}
