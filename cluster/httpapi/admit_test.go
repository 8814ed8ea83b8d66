package httpapi_test

import (
	"context"
	"encoding/json"
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
