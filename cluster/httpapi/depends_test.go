package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestSubmitDependsOn: depends_on names tasks that must exist (400
// otherwise, nothing stored); the task shows its dependencies and, while
// it waits, why; it runs once they completed.
func TestSubmitDependsOn(t *testing.T) {
	srv, _ := apiServer(t, httpapi.DefaultConfig(), blockKind)
	for _, c := range []struct{ body, says string }{
		{`{"id":"w1","kind":"echo","payload":{"n":1},"depends_on":["ghost"]}`, "ghost does not exist"},
		{`{"id":"w1","kind":"echo","payload":{"n":1},"depends_on":["job:j/stage:x"]}`, "a stage of 0 to"},
	} {
		if code, body := call(t, http.MethodPost, srv.URL+"/v1/tasks", c.body, nil); code != http.StatusBadRequest || !strings.Contains(body, c.says) {
			t.Errorf("submit %s: %d %s; want 400 saying %q", c.body, code, body, c.says)
		}
	}
	if code, _ := call(t, http.MethodGet, srv.URL+"/v1/tasks/w1", "", nil); code != http.StatusNotFound {
		t.Fatalf("a refused task was stored: GET answers %d", code)
	}
	if code, body := call(t, http.MethodPost, srv.URL+"/v1/tasks", `{"id":"first","kind":"block","payload":{"n":1}}`, nil); code != http.StatusCreated {
		t.Fatalf("submit first: %d %s", code, body)
	}
	var st api.Status
	if code, body := call(t, http.MethodPost, srv.URL+"/v1/tasks", `{"id":"then","kind":"echo","payload":{"n":2},"depends_on":["first"]}`, &st); code != http.StatusCreated {
		t.Fatalf("submit then: %d %s", code, body)
	}
	if strings.Join(st.DependsOn, ",") != "first" {
		t.Fatalf("status depends_on %v; want [first]", st.DependsOn)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		call(t, http.MethodGet, srv.URL+"/v1/tasks/then", "", &st)
		return st.State == api.StatePending && strings.Contains(st.Waiting, "waiting for dependencies: first"), st.State + " " + st.Waiting
	})
	if code, body := call(t, http.MethodDelete, srv.URL+"/v1/tasks/first", "", nil); code != http.StatusOK {
		t.Fatalf("cancel first: %d %s", code, body)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		call(t, http.MethodGet, srv.URL+"/v1/tasks/then", "", &st)
		return st.State == api.StateCancelled && strings.Contains(st.Error, "dependency first cancelled"), st.State + " " + st.Error
	})
}
