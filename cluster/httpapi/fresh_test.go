package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/httpapi"
)

// TestSubmitTakesTheFreshHint: "fresh" reaches the task manager's
// submission, alone and in a batch, and a wrong one (the id is stored)
// answers the stored task: 200, not a second task.
func TestSubmitTakesTheFreshHint(t *testing.T) {
	if sub, err := httpapi.Submission(api.SubmitRequest{ID: "f", Kind: "echo", Fresh: true}); err != nil || !sub.Fresh {
		t.Fatalf("Submission = fresh %v, %v; want the hint kept", sub.Fresh, err)
	}
	srv, _ := apiServer(t, httpapi.DefaultConfig())
	var st api.Status
	if code, raw := call(t, http.MethodPost, srv.URL+"/v1/tasks", `{"id":"f1","kind":"echo","payload":{"n":1},"fresh":true}`, &st); code != http.StatusCreated {
		t.Fatalf("POST fresh = %d %s, want 201", code, raw)
	}
	if code, raw := call(t, http.MethodPost, srv.URL+"/v1/tasks", `{"id":"f1","kind":"echo","payload":{"n":1},"fresh":true}`, nil); code != http.StatusOK {
		t.Fatalf("POST wrongly fresh = %d %s, want 200 with the stored task", code, raw)
	}
	var b api.SubmitBatchResponse
	code, raw := call(t, http.MethodPost, srv.URL+"/v1/tasks:batch", `{"tasks":[{"id":"f2","kind":"echo","fresh":true},{"id":"f1","kind":"echo","payload":{"n":1},"fresh":true}]}`, &b)
	if code != http.StatusOK || len(b.Results) != 2 || b.Results[0].Code != http.StatusCreated || b.Results[1].Code != http.StatusOK {
		t.Fatalf("POST batch = %d %s; want f2 created and f1 found", code, raw)
	}
}
