package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestDiskFull: while the store's disk is full a submit answers 503 with
// Retry-After (not 500) and /healthz 503 with the reason; both recover
// when room returns (issue 19, point 9).
func TestDiskFull(t *testing.T) {
	var full atomic.Bool
	bcfg := boltstore.DefaultConfig(filepath.Join(t.TempDir(), "tasks.db"))
	bcfg.WriteFault = func() error {
		if full.Load() {
			return fmt.Errorf("write tasks.db: %w", syscall.ENOSPC)
		}
		return nil
	}
	srv, _ := apiServerOn(t, httpapi.DefaultConfig(), bcfg)
	submit := func(id string) *http.Response {
		resp, err := http.Post(srv.URL+"/v1/tasks", "application/json", strings.NewReader(`{"id":"`+id+`","kind":"echo","payload":{"text":"x"}}`))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}
	health := func() (int, string) {
		resp, body := send(t, http.MethodGet, srv.URL+"/healthz")
		return resp.StatusCode, string(body)
	}
	full.Store(true)
	resp := submit("a")
	var body api.ErrorBody
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body.Error.Message, "no space left") {
		t.Fatalf("submit on a full disk: %d Retry-After %q %+v, want 503 with Retry-After naming the full disk", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if code, body := health(); code != http.StatusServiceUnavailable || !strings.Contains(body, "no space left") {
		t.Fatalf("/healthz on a full disk: %d %s, want 503 naming the full disk", code, body)
	}
	full.Store(false)
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		code, body := health()
		return code == http.StatusOK, fmt.Sprintf("/healthz once room returned: %d %s", code, body)
	})
	if resp := submit("a"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit once room returned: %d, want 201", resp.StatusCode)
	}
}
