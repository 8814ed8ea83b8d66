package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// blockKind is a task that runs until it is cancelled.
var blockKind = actors.MustTask("block", func(ctx actors.TaskContext, _ echoIn) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
})

// call sends method path with body (empty: none) and decodes a 2xx answer
// into out (nil: not decoded); it returns the status and the raw body.
func call(t *testing.T, method, u, body string, out any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: undecodable answer %s: %v", method, u, raw, err)
		}
	}
	return resp.StatusCode, string(raw)
}

// jobRecords is every job record as "id@revision", to tell that a request
// changed nothing.
func jobRecords(t *testing.T, m *tasks.Manager) string {
	t.Helper()
	recs, err := m.Jobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The declarations, not the revisions: a job's supervisor writes its
	// own state (Job.run) into the record whenever it acts, which no
	// request of the test's causes or prevents.
	var out []string
	for _, r := range recs {
		decl := proto.Clone(r.Job).(*messages.Job)
		decl.Run, decl.UpdatedAt = nil, nil
		out = append(out, fmt.Sprintf("%s=%v", r.Job.GetId(), prototext.Format(decl)))
	}
	return strings.Join(out, " ")
}

// TestDeclareJobRefusesBadInput: each invalid declaration is a 400 saying
// what is wrong, and stores nothing.
func TestDeclareJobRefusesBadInput(t *testing.T) {
	srv, m := apiServer(t, httpapi.DefaultConfig())
	for _, id := range []string{"root", "ended"} {
		if code, body := call(t, http.MethodPut, srv.URL+"/v1/jobs/"+id, `{}`, nil); code != http.StatusCreated {
			t.Fatalf("declaring %s: %d %s", id, code, body)
		}
	}
	if code, body := call(t, http.MethodDelete, srv.URL+"/v1/jobs/ended", "", nil); code != http.StatusOK {
		t.Fatalf("stopping an empty job: %d %s, want 200", code, body)
	}
	before := jobRecords(t, m)
	cases := []struct {
		name, id, body string
		code           int
		says           string
	}{
		{"unknown strategy", "j", `{"strategy":"one_for_some"}`, 400, "strategy"},
		{"unknown restart type", "j", `{"parent":"root","restart":"sometimes"}`, 400, "restart type"},
		{"unknown auto_shutdown", "j", `{"auto_shutdown":"whenever"}`, 400, "auto_shutdown"},
		{"negative max_restarts", "j", `{"max_restarts":-1}`, 400, "max restarts"},
		{"negative restart_period", "j", `{"max_restarts":1,"restart_period":"-1s"}`, 400, "restart period"},
		{"period without restarts", "j", `{"restart_period":"1m"}`, 400, "max restarts above 0"},
		{"negative shutdown", "j", `{"shutdown":"-5s"}`, 400, "shutdown"},
		{"shutdown past the bound", "j", `{"shutdown":"2h"}`, 400, "shutdown"},
		{"negative stage", "j", `{"parent":"root","stage":-1}`, 400, "stage"},
		{"stage without a parent", "j", `{"stage":2}`, 400, "needs a parent"},
		{"restart without a parent", "j", `{"restart":"permanent"}`, 400, "needs a parent"},
		{"its own parent", "j", `{"parent":"j"}`, 400, "own parent"},
		{"no such parent", "j", `{"parent":"nobody"}`, 400, "does not exist"},
		{"parent ended", "j", `{"parent":"ended"}`, 400, "has ended"},
		{"unknown field", "j", `{"stratgey":"one_for_all"}`, 400, "unknown field"},
		{"not JSON", "j", `{`, 400, "malformed"},
		{"bad id", "a%20b", `{}`, 400, "must match"},
	}
	if code, body := call(t, http.MethodDelete, srv.URL+"/v1/jobs/root?reason="+strings.Repeat("x", tasks.MaxReasonBytes+1), "", nil); code != http.StatusBadRequest || !strings.Contains(body, "stop reason") {
		t.Errorf("a stop with a reason past the bound: %d %s; want 400", code, body)
	}
	if after := jobRecords(t, m); after != before {
		t.Errorf("a refused stop changed the job records: %s, were %s", after, before)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := call(t, http.MethodPut, srv.URL+"/v1/jobs/"+c.id, c.body, nil)
			if code != c.code || !strings.Contains(body, c.says) {
				t.Errorf("PUT %s: %d %s; want %d saying %q", c.body, code, body, c.code, c.says)
			}
			if after := jobRecords(t, m); after != before {
				t.Errorf("the job records changed: %s, were %s", after, before)
			}
		})
	}
}

// TestDeclareJobDepth: a tree is at most tasks.MaxJobDepth deep; the job
// past it is a 400 that says so, and is not stored.
func TestDeclareJobDepth(t *testing.T) {
	srv, m := apiServer(t, httpapi.DefaultConfig())
	parent := ""
	for depth := 0; depth <= tasks.MaxJobDepth; depth++ {
		id := fmt.Sprintf("d%d", depth)
		var j api.JobStatus
		if code, body := call(t, http.MethodPut, srv.URL+"/v1/jobs/"+id, fmt.Sprintf(`{"parent":%q}`, parent), &j); code != http.StatusCreated || j.Depth != depth {
			t.Fatalf("declaring %s under %q: %d %s; want 201 at depth %d", id, parent, code, body, depth)
		}
		parent = id
	}
	before := jobRecords(t, m)
	code, body := call(t, http.MethodPut, srv.URL+"/v1/jobs/too-deep", fmt.Sprintf(`{"parent":%q}`, parent), nil)
	if code != http.StatusBadRequest || !strings.Contains(body, fmt.Sprintf("at depth %d", tasks.MaxJobDepth+1)) || !strings.Contains(body, fmt.Sprintf("at most %d deep", tasks.MaxJobDepth)) {
		t.Fatalf("declaring at depth %d: %d %s; want 400 naming the bound", tasks.MaxJobDepth+1, code, body)
	}
	if after := jobRecords(t, m); after != before {
		t.Fatalf("the job records changed: %s, were %s", after, before)
	}
}

// TestDeclareJobCycle: a job made by its first task, with a job declared
// under it, cannot be declared as that job's child: it is its ancestor.
func TestDeclareJobCycle(t *testing.T) {
	srv, m := apiServer(t, httpapi.DefaultConfig())
	if code, body := call(t, http.MethodPost, srv.URL+"/v1/tasks", `{"kind":"echo","payload":{"n":1},"job_id":"x"}`, nil); code != http.StatusCreated {
		t.Fatalf("submit: %d %s", code, body)
	}
	if code, body := call(t, http.MethodPut, srv.URL+"/v1/jobs/y", `{"parent":"x"}`, nil); code != http.StatusCreated {
		t.Fatalf("declaring y under x: %d %s", code, body)
	}
	before := jobRecords(t, m)
	code, body := call(t, http.MethodPut, srv.URL+"/v1/jobs/x", `{"parent":"y"}`, nil)
	if code != http.StatusBadRequest || !strings.Contains(body, "ancestor") || !strings.Contains(body, "x under y under x") {
		t.Fatalf("declaring x under y: %d %s; want 400 naming the cycle", code, body)
	}
	if after := jobRecords(t, m); after != before {
		t.Fatalf("the job records changed: %s, were %s", after, before)
	}
}

// TestDeclareJobIdempotent: the same declaration again is 200 and writes
// nothing; another one is 409 naming what differs, and writes nothing.
func TestDeclareJobIdempotent(t *testing.T) {
	srv, m := apiServer(t, httpapi.DefaultConfig())
	decl := `{"strategy":"one_for_all","max_restarts":3,"restart_period":"1m","shutdown":"0s","auto_shutdown":"any_significant"}`
	var first api.JobStatus
	if code, body := call(t, http.MethodPut, srv.URL+"/v1/jobs/svc", decl, &first); code != http.StatusCreated {
		t.Fatalf("first PUT: %d %s", code, body)
	}
	if !first.Declared || first.Strategy != "one_for_all" || first.MaxRestarts != 3 || first.Shutdown == nil || *first.Shutdown != 0 ||
		first.AutoShutdown != "any_significant" || first.State != api.StatePending || first.CreatedAt == nil {
		t.Fatalf("declared job %+v", first)
	}
	before := jobRecords(t, m)
	var again api.JobStatus
	if code, body := call(t, http.MethodPut, srv.URL+"/v1/jobs/svc", decl, &again); code != http.StatusOK || !again.Declared {
		t.Fatalf("same PUT again: %d %s; want 200", code, body)
	}
	if after := jobRecords(t, m); after != before {
		t.Fatalf("the same declaration wrote: %s, was %s", after, before)
	}
	code, body := call(t, http.MethodPut, srv.URL+"/v1/jobs/svc", `{"strategy":"one_for_one","max_restarts":3,"restart_period":"1m","shutdown":"10s"}`, nil)
	if code != http.StatusConflict || !strings.Contains(body, "strategy: one_for_all, not one_for_one") || !strings.Contains(body, "shutdown: 0s, not 10s") ||
		!strings.Contains(body, "auto_shutdown: any_significant, not never") {
		t.Fatalf("another declaration: %d %s; want 409 naming each difference", code, body)
	}
	if after := jobRecords(t, m); after != before {
		t.Fatalf("a refused declaration wrote: %s, was %s", after, before)
	}
}

// TestDeclareImplicitJob: a job made by its first task is declared in place
// when the declaration keeps its strategy and budget, and refused (409)
// when it does not.
func TestDeclareImplicitJob(t *testing.T) {
	srv, m := apiServer(t, httpapi.DefaultConfig())
	if code, body := call(t, http.MethodPost, srv.URL+"/v1/tasks", `{"kind":"echo","payload":{"n":1},"job_id":"imp","job_strategy":"one_for_all"}`, nil); code != http.StatusCreated {
		t.Fatalf("submit: %d %s", code, body)
	}
	before := jobRecords(t, m)
	if code, body := call(t, http.MethodPut, srv.URL+"/v1/jobs/imp", `{"strategy":"rest_for_one"}`, nil); code != http.StatusConflict || !strings.Contains(body, "made by its first task") {
		t.Fatalf("declaring it with another strategy: %d %s; want 409", code, body)
	}
	if after := jobRecords(t, m); after != before {
		t.Fatalf("a refused declaration wrote: %s, was %s", after, before)
	}
	var j api.JobStatus
	if code, body := call(t, http.MethodPut, srv.URL+"/v1/jobs/imp", `{"strategy":"one_for_all","shutdown":"1s"}`, &j); code != http.StatusOK || !j.Declared || len(j.Tasks) != 1 {
		t.Fatalf("declaring it as it runs: %d %s; want 200, declared, with its task", code, body)
	}
}

// TestJobTreeAndStop: a nested tree reads back to any depth with each
// node's state and budget; DELETE stops the whole subtree and answers its
// tree; a job that is not there is 404.
func TestJobTreeAndStop(t *testing.T) {
	srv, _ := apiServer(t, httpapi.DefaultConfig(), blockKind)
	for _, d := range []struct{ id, body string }{
		{"app", `{"strategy":"one_for_all","max_restarts":2,"restart_period":"1m"}`},
		{"db", `{"parent":"app","stage":0,"significant":true}`},
		{"web", `{"parent":"app","stage":1,"restart":"permanent"}`},
		{"cache", `{"parent":"web"}`},
	} {
		if code, body := call(t, http.MethodPut, srv.URL+"/v1/jobs/"+d.id, d.body, nil); code != http.StatusCreated {
			t.Fatalf("declaring %s: %d %s", d.id, code, body)
		}
	}
	for _, s := range []string{`{"id":"db-1","kind":"block","job_id":"db","restart":"permanent"}`, `{"id":"cache-1","kind":"block","job_id":"cache","restart":"temporary","significant":true}`} {
		if code, body := call(t, http.MethodPost, srv.URL+"/v1/tasks", s, nil); code != http.StatusCreated {
			t.Fatalf("submit %s: %d %s", s, code, body)
		}
	}
	var tree api.JobTree
	if code, body := call(t, http.MethodGet, srv.URL+"/v1/jobs/app/tree", "", &tree); code != http.StatusOK {
		t.Fatalf("tree: %d %s", code, body)
	}
	app := tree.Root
	if tree.Jobs != 4 || tree.Tasks != 2 || app.ID != "app" || app.MaxRestarts != 2 || len(app.Jobs) != 2 || app.Jobs[0].ID != "db" || app.Jobs[1].ID != "web" {
		t.Fatalf("tree %s; want app > db, web", mustJSON(tree))
	}
	db, web := app.Jobs[0], app.Jobs[1]
	if !db.Significant || web.Restart != "permanent" || len(web.Jobs) != 1 || web.Jobs[0].ID != "cache" || web.Jobs[0].Depth != 2 {
		t.Fatalf("tree %s; want db significant, web permanent, web > cache at depth 2", mustJSON(tree))
	}
	cache := web.Jobs[0]
	if len(cache.Tasks) != 1 || cache.Tasks[0].Restart != "temporary" || !cache.Tasks[0].Significant || db.Tasks[0].Restart != "permanent" {
		t.Fatalf("tree %s; want each task with its restart type", mustJSON(tree))
	}
	if app.State != api.StateRunning || cache.State != api.StateRunning {
		t.Fatalf("tree %s; want running", mustJSON(tree))
	}
	var list api.JobList
	if code, body := call(t, http.MethodGet, srv.URL+"/v1/jobs", "", &list); code != http.StatusOK || !slices.ContainsFunc(list.Jobs, func(j api.JobSummary) bool {
		return j.ID == "cache" && j.Parent == "web" && j.Depth == 2 && j.Declared
	}) {
		t.Fatalf("GET /v1/jobs: %d %s; want cache under web at depth 2", code, body)
	}
	var stopped api.JobTree
	code, body := call(t, http.MethodDelete, srv.URL+"/v1/jobs/app?reason=maintenance", "", &stopped)
	if code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("stop: %d %s", code, body)
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		if stopped.Finished() {
			return true, ""
		}
		call(t, http.MethodGet, srv.URL+"/v1/jobs/app/tree", "", &stopped)
		return stopped.Finished(), "the stopped tree has not finished: " + mustJSON(stopped)
	})
	// Stopped, a job has ended (failed or cancelled: how a stop reads is
	// the job supervisor's to say), the root saying why.
	if r := stopped.Root; r.State == api.StateCompleted || !strings.Contains(r.Error, "maintenance") {
		t.Errorf("job app after the stop: %s (%s); want ended, saying why", r.State, r.Error)
	}
	if s := stopped.Root.Jobs[1].Jobs[0].Tasks[0].State; s != api.StateCancelled {
		t.Errorf("a task deep in the stopped tree is %s, want cancelled", s)
	}
	if code, body := call(t, http.MethodPost, srv.URL+"/v1/tasks", `{"kind":"echo","payload":{"n":1},"job_id":"web"}`, nil); code != http.StatusConflict {
		t.Errorf("a task joining a stopped job: %d %s, want 409", code, body)
	}
	for _, req := range []struct{ method, path string }{{http.MethodGet, "/v1/jobs/none/tree"}, {http.MethodDelete, "/v1/jobs/none"}, {http.MethodGet, "/v1/jobs/none"}} {
		if code, body := call(t, req.method, srv.URL+req.path, "", nil); code != http.StatusNotFound {
			t.Errorf("%s %s: %d %s, want 404", req.method, req.path, code, body)
		}
	}
}

// TestSubmitRestartType: a task takes a restart type and significance in a
// job only, and shows them back.
func TestSubmitRestartType(t *testing.T) {
	srv, _ := apiServer(t, httpapi.DefaultConfig())
	for _, c := range []struct{ body, says string }{
		{`{"kind":"echo","payload":{"n":1},"restart":"temporary"}`, "needs a job id"},
		{`{"kind":"echo","payload":{"n":1},"significant":true}`, "needs a job id"},
		{`{"kind":"echo","payload":{"n":1},"job_id":"j","restart":"sometimes"}`, "restart type"},
	} {
		if code, body := call(t, http.MethodPost, srv.URL+"/v1/tasks", c.body, nil); code != http.StatusBadRequest || !strings.Contains(body, c.says) {
			t.Errorf("submit %s: %d %s; want 400 saying %q", c.body, code, body, c.says)
		}
	}
	var st api.Status
	if code, body := call(t, http.MethodPost, srv.URL+"/v1/tasks", `{"kind":"echo","payload":{"n":1},"job_id":"j","restart":"Permanent","significant":true}`, &st); code != http.StatusCreated {
		t.Fatalf("submit: %d %s", code, body)
	}
	if st.Restart != "permanent" || !st.Significant {
		t.Fatalf("status %+v; want restart permanent, significant", st)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestTaskJoinsDeclaredJob: a task naming a declared job runs under its
// strategy and budget; one naming another strategy is refused.
func TestTaskJoinsDeclaredJob(t *testing.T) {
	srv, _ := apiServer(t, httpapi.DefaultConfig())
	if code, body := call(t, http.MethodPut, srv.URL+"/v1/jobs/svc", `{"strategy":"one_for_all","max_restarts":2,"restart_period":"1m"}`, nil); code != http.StatusCreated {
		t.Fatalf("declare: %d %s", code, body)
	}
	var st api.Status
	if code, body := call(t, http.MethodPost, srv.URL+"/v1/tasks", `{"kind":"echo","payload":{"n":1},"job_id":"svc"}`, &st); code != http.StatusCreated || st.JobStrategy != "one_for_all" {
		t.Fatalf("a task joining svc: %d %s; want it under one_for_all", code, body)
	}
	if code, body := call(t, http.MethodPost, srv.URL+"/v1/tasks", `{"kind":"echo","payload":{"n":1},"job_id":"svc","job_strategy":"rest_for_one"}`, nil); code != http.StatusBadRequest || !strings.Contains(body, "uses strategy one_for_all") {
		t.Fatalf("a task naming another strategy: %d %s; want 400", code, body)
	}
}
