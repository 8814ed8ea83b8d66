package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestTaskStats: GET /v1/tasks:stats counts the stored tasks by state and
// by kind, and a task submitted since shows at once (the counts are kept
// with the writes: no count is held back for a while).
func TestTaskStats(t *testing.T) {
	srv, _ := apiServer(t, httpapi.DefaultConfig())
	c, err := client.New(client.Config{Addr: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t, 30*time.Second)
	for i := range 3 {
		if _, err := c.SubmitAndWait(ctx, api.SubmitRequest{Kind: "echo", Payload: json.RawMessage(`{"n":1}`), JobID: []string{"", "", "j1"}[i]}, nil); err != nil {
			t.Fatal(err)
		}
	}
	first, err := c.TaskStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Total != 3 || first.ByState[api.StateCompleted] != 3 || first.ByKind["echo"][api.StateCompleted] != 3 || first.ByState[api.StateFailed] != 0 {
		t.Fatalf("stats %+v; want 3 tasks, 3 completed echo", first)
	}
	if _, err := c.SubmitAndWait(ctx, api.SubmitRequest{Kind: "echo", Payload: json.RawMessage(`{"n":2}`)}, nil); err != nil {
		t.Fatal(err)
	}
	again, err := c.TaskStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again.Total != 4 || again.ByKind["echo"][api.StateCompleted] != 4 {
		t.Fatalf("stats right after a fourth task: %+v; want it counted", again)
	}
}

// scanCounter is a task service that counts its listings of every task.
type scanCounter struct {
	*tasks.Manager
	scans atomic.Int32
}

func (s *scanCounter) Find(ctx context.Context, f store.Filter) ([]store.Record, error) {
	if f.Limit == 0 {
		s.scans.Add(1)
	}
	return s.Manager.Find(ctx, f)
}

// TestTaskStatsScanNoTask: the counts come from the store's counters; no
// call of GET /v1/tasks:stats lists the tasks, however often it is asked.
// POST /v1/tasks:recount (the repair) answers the same counts.
func TestTaskStatsScanNoTask(t *testing.T) {
	_, m := apiServer(t, httpapi.DefaultConfig())
	svc := &scanCounter{Manager: m}
	srv := httptest.NewServer(httpapi.New(svc, httpapi.DefaultConfig()))
	t.Cleanup(srv.Close)
	c, err := client.New(client.Config{Addr: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t, 30*time.Second)
	for i := range 5 {
		if _, err := c.SubmitAndWait(ctx, api.SubmitRequest{Kind: "echo", Payload: json.RawMessage(`{"n":1}`)}, nil); err != nil {
			t.Fatal(err)
		}
		st, err := c.TaskStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Total != i+1 {
			t.Fatalf("stats %+v after %d tasks", st, i+1)
		}
	}
	if n := svc.scans.Load(); n != 0 {
		t.Fatalf("GET /v1/tasks:stats listed every task %d times; want the counters read, no listing", n)
	}
	st, err := c.RecountTasks(ctx)
	if err != nil || st.Total != 5 || st.ByKind["echo"][api.StateCompleted] != 5 {
		t.Fatalf("recount = %+v, %v; want 5 completed echo", st, err)
	}
}

// TestJobList: GET /v1/jobs lists job records, most recently changed
// first, ?limit= of them, with the total.
func TestJobList(t *testing.T) {
	srv, _ := apiServer(t, httpapi.DefaultConfig())
	c, err := client.New(client.Config{Addr: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t, 30*time.Second)
	for _, job := range []string{"first", "second"} {
		if _, err := c.SubmitAndWait(ctx, api.SubmitRequest{Kind: "echo", Payload: json.RawMessage(`{"n":1}`), JobID: job, JobStrategy: "one_for_all"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Each job's supervisor records its task's end after the task's
	// answer: listed before then, a job's record changes between the two
	// listings, and with it the order.
	var all *api.JobList
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		all, err = c.Jobs(ctx, 0)
		settled := err == nil && all.Count == 2
		for i := 0; settled && i < len(all.Jobs); i++ {
			settled = api.IsTerminal(all.Jobs[i].State)
		}
		return settled, fmt.Sprintf("jobs %+v, %v; want both ended", all, err)
	})
	if all.Total != 2 || all.Count != 2 || all.Jobs[0].Strategy != "one_for_all" {
		t.Fatalf("jobs %+v; want both, one_for_all", all)
	}
	one, err := c.Jobs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if one.Count != 1 || one.Total != 2 || one.Jobs[0].ID != all.Jobs[0].ID {
		t.Fatalf("limit 1: %+v; want the first of %+v", one, all.Jobs)
	}
	if resp, body := send(t, http.MethodGet, srv.URL+"/v1/jobs?limit=0"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("limit=0: %d %s, want 400", resp.StatusCode, body)
	}
}

// TestMemberAndClusterRoutes: GET /v1/member and /v1/cluster answer what
// Config's Self and Cluster give, 404 without them, and a failing
// Cluster is 503.
func TestMemberAndClusterRoutes(t *testing.T) {
	srv, _ := apiServer(t, httpapi.DefaultConfig())
	for _, path := range []string{"/v1/member", "/v1/cluster"} {
		if resp, body := send(t, http.MethodGet, srv.URL+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s without a source: %d %s, want 404", path, resp.StatusCode, body)
		}
	}
	cfg := httpapi.DefaultConfig()
	cfg.Self = func(context.Context) (api.MemberReport, error) {
		return api.MemberReport{ID: "m1", Fenced: true, FenceReason: "lease expired", Kinds: []string{"echo"}}, nil
	}
	cfg.Cluster = func(context.Context) (api.ClusterReport, error) {
		return api.ClusterReport{}, context.DeadlineExceeded
	}
	srv, _ = apiServer(t, cfg)
	c, err := client.New(client.Config{Addr: srv.URL, RetryFor: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t, 10*time.Second)
	rep, err := c.MemberReport(ctx)
	if err != nil || rep.ID != "m1" || !rep.Fenced || rep.FenceReason != "lease expired" {
		t.Fatalf("member report %+v, %v", rep, err)
	}
	if resp, body := send(t, http.MethodGet, srv.URL+"/v1/cluster"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/v1/cluster failing: %d %s, want 503", resp.StatusCode, body)
	}
	// Read routes: a read token will do.
	for _, path := range []string{"/v1/member", "/v1/cluster", "/v1/tasks:stats", "/v1/jobs"} {
		if got := httpapi.RoleFor(http.MethodGet, path); got != httpapi.RoleRead {
			t.Errorf("RoleFor(GET %s) = %v, want read", path, got)
		}
	}
}
