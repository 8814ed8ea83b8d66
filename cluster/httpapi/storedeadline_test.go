package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
)

// hangingService is a store without a leader: its calls wait until their
// context ends, as a Consul call does while the servers elect (or cannot).
type hangingService struct{ httpapi.TaskService }

func (hangingService) Member() string { return "m1" }

func (hangingService) Submit(ctx context.Context, _ tasks.Submission) (store.Record, bool, error) {
	<-ctx.Done()
	return store.Record{}, false, ctx.Err()
}

func (hangingService) Get(ctx context.Context, _ string) (store.Record, error) {
	<-ctx.Done()
	return store.Record{}, ctx.Err()
}

// TestStoreDeadlineAnswers503: a submit or read whose store does not
// answer is answered 503 with Retry-After once StoreDeadline has passed,
// inside a client's deadline, instead of hanging until the client gives
// up (issue #22: submits hung to the client's 5 s while Consul had no
// quorum).
func TestStoreDeadlineAnswers503(t *testing.T) {
	cfg := httpapi.DefaultConfig()
	cfg.StoreDeadline = 300 * time.Millisecond
	srv := httptest.NewServer(httpapi.New(hangingService{}, cfg))
	defer srv.Close()
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPost, "/v1/tasks", `{"id":"t1","kind":"sleep"}`},
		{http.MethodGet, "/v1/tasks/t1", ""},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		began := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v (want 503 after %v)", tc.method, tc.path, err, cfg.StoreDeadline)
		}
		resp.Body.Close()
		took := time.Since(began)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: %d, Retry-After %q; want 503 with Retry-After", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if took > 2*time.Second {
			t.Errorf("%s %s answered after %v, want about %v", tc.method, tc.path, took, cfg.StoreDeadline)
		}
	}
}
