package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/httpapi"
)

// TestRetryRoutes: the retry routes need a write token; a body that is not
// a retry, a state that is not a dead letter's and an unknown task are
// clear errors that change nothing.
func TestRetryRoutes(t *testing.T) {
	for _, path := range []string{"/v1/tasks/t1/retry", "/v1/tasks:retry"} {
		if got := httpapi.RoleFor(http.MethodPost, path); got != httpapi.RoleWrite {
			t.Errorf("RoleFor(POST %s) = %v, want write", path, got)
		}
	}
	srv, _ := apiServer(t, httpapi.DefaultConfig())
	cases := []struct {
		path, body string
		code       int
		says       string
	}{
		{"/v1/tasks/nope/retry", ``, http.StatusNotFound, "not found"},
		{"/v1/tasks/nope/retry", `{"reason":1}`, http.StatusBadRequest, "reason"},
		{"/v1/tasks:retry", `{"states":["completed"]}`, http.StatusBadRequest, "only failed or cancelled"},
		{"/v1/tasks:retry", `{"states":["soon"]}`, http.StatusBadRequest, "unknown state"},
		{"/v1/tasks:retry", `{"kind":"echo","extra":true}`, http.StatusBadRequest, "extra"},
		{"/v1/tasks:retry", `{"kind":"echo","dry_run":true}`, http.StatusOK, `"count":0`},
	}
	for _, c := range cases {
		resp, err := http.Post(srv.URL+c.path, "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(b.String(), c.says) {
			t.Errorf("POST %s %s: %d %s; want %d saying %q", c.path, c.body, resp.StatusCode, b.String(), c.code, c.says)
		}
	}
}
