package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/internal/testutil"
)

// failingService fails every read: unavailable (Consul away), or with an
// internal error for the id "bug".
type failingService struct{ httpapi.TaskService }

func (failingService) Member() string { return "m1" }

func (failingService) Get(_ context.Context, id string) (store.Record, error) {
	if id == "bug" {
		return store.Record{}, errors.New("a bug")
	}
	return store.Record{}, fmt.Errorf("%w: consulstore: dial tcp 127.0.0.1:8500: connection refused", api.ErrUnavailable)
}

// TestUnavailableLogged: while the store is away, a flood of requests
// answered 503 logs one line (it logged one per request); internal errors
// are each logged.
func TestUnavailableLogged(t *testing.T) {
	var logs testutil.LogBuffer
	cfg := httpapi.DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	srv := httptest.NewServer(httpapi.New(failingService{}, cfg))
	defer srv.Close()
	for i := range 50 {
		resp, err := http.Get(fmt.Sprintf("%s/v1/tasks/t%d", srv.URL, i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("GET with the store away: %d, want 503", resp.StatusCode)
		}
	}
	for range 2 {
		resp, err := http.Get(srv.URL + "/v1/tasks/bug")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	out := logs.String()
	if n := strings.Count(out, "request failed; the node answers unavailable"); n != 1 {
		t.Errorf("50 requests answered 503 logged %d lines, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "level=ERROR msg=\"request failed\""); n != 2 {
		t.Errorf("2 internal errors logged %d lines, want 2:\n%s", n, out)
	}
}
