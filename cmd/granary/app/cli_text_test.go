package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/httpapi"
)

// fakeAPI is a node's HTTP API that answers each path with a fixed JSON
// body and remembers the queries it was sent: enough to check what the
// CLI prints and asks for, without a node.
type fakeAPI struct {
	mu      sync.Mutex
	queries map[string]url.Values
	bodies  map[string]any
	status  map[string]int
}

func newFakeAPI(t *testing.T, bodies map[string]any) (*fakeAPI, string) {
	t.Helper()
	f := &fakeAPI{queries: map[string]url.Values{}, bodies: bodies, status: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.queries[r.URL.Path] = r.URL.Query()
		body, ok := f.bodies[r.URL.Path]
		code := f.status[r.URL.Path]
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if code != 0 {
			w.WriteHeader(code)
		}
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeAPI) query(path string) url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries[path]
}

// TestTasksStateList: --state takes the comma-separated list the API
// takes (it said `unknown state "failed,cancelled"`), and a bad state in
// the list is still a usage error naming it.
func TestTasksStateList(t *testing.T) {
	f, addr := newFakeAPI(t, map[string]any{"/v1/tasks": api.TaskList{}})
	r := cli(t, addr, "tasks", "--state", "failed,cancelled")
	if r.code != exitOK {
		t.Fatalf("tasks --state failed,cancelled: exit %d, %s", r.code, r.stderr)
	}
	if got := f.query("/v1/tasks").Get("state"); got != "failed,cancelled" {
		t.Errorf("the node was asked for ?state=%q; want failed,cancelled", got)
	}
	if r := cli(t, addr, "tasks", "--state", "failed,done"); r.code != exitUsage || !strings.Contains(r.stderr, `unknown state "done"`) {
		t.Errorf("tasks --state failed,done: exit %d, %q; want exit 2 naming done", r.code, r.stderr)
	}
}

// TestListText: one of a thing is singular ("1 task", not "1 tasks"),
// the task table has an OWNER column, and the paging hint is the whole
// command again, filters included, with the next cursor.
func TestListText(t *testing.T) {
	one := api.TaskList{Count: 1, Next: "c2", Tasks: []*api.Status{{ID: "t1", Kind: "echo", State: api.StateRunning, Owner: "m-2", Attempts: 1, SubmittedAt: time.Now()}}}
	_, addr := newFakeAPI(t, map[string]any{
		"/v1/tasks":   one,
		"/v1/members": api.MemberList{Count: 1, Members: []api.Member{{ID: "m-2", Healthy: true}}},
		"/v1/kinds":   api.KindList{Count: 1, Kinds: []api.Kind{{Name: "echo", Type: api.KindTask}}},
		"/v1/jobs":    api.JobList{Total: 1, Jobs: []api.JobSummary{{ID: "j"}}},
	})
	r := cli(t, addr, "tasks", "--kind", "echo", "--label", "team=a b", "--limit", "1", "--cursor", "c1")
	if r.code != exitOK {
		t.Fatalf("tasks: exit %d, %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "\n1 task\n") {
		t.Errorf("tasks: want \"1 task\":\n%s", r.stdout)
	}
	if header, row, _ := strings.Cut(r.stdout, "\n"); !strings.Contains(header, "OWNER") || !strings.Contains(row, "m-2") {
		t.Errorf("tasks: want an OWNER column with m-2:\n%s", r.stdout)
	}
	wantHint := "more: granary tasks --kind echo --label 'team=a b' --limit 1 --cursor c2 (or --all)"
	if !strings.Contains(r.stdout, wantHint) {
		t.Errorf("tasks: want the paging hint %q:\n%s", wantHint, r.stdout)
	}
	for cmd, want := range map[string]string{"members": "1 member\n", "kinds": "1 kind\n", "jobs": "1 job\n"} {
		if r := cli(t, addr, cmd); r.code != exitOK || !strings.HasSuffix(r.stdout, "\n"+want) {
			t.Errorf("granary %s: exit %d, want it to end %q:\n%s%s", cmd, r.code, want, r.stdout, r.stderr)
		}
	}
}

// TestFlagErrorsSayDoubleDash: a flag error writes the flag as the help
// does (--bogus), not as package flag does (-bogus).
func TestFlagErrorsSayDoubleDash(t *testing.T) {
	for args, want := range map[string]string{
		"tasks --bogus":                   "not defined: --bogus",
		"tasks --limit":                   "needs an argument: --limit",
		"tasks --limit many":              "for flag --limit",
		"submit --kind echo --wait=maybe": "for --wait",
	} {
		r := cli(t, "http://127.0.0.1:1", strings.Fields(args)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, want) {
			t.Errorf("granary %s: exit %d, %q; want exit 2 saying %q", args, r.code, r.stderr, want)
		}
	}
}

// TestPermissionDeniedSaysItOnce: a read token on a write route gets the
// node's message, which names the role, and where to give a token; it
// said "needs a write token (this needs a write token)".
func TestPermissionDeniedSaysItOnce(t *testing.T) {
	f, addr := newFakeAPI(t, map[string]any{"/v1/tasks/x": api.ErrorBody{Error: api.ErrorDetail{Code: "permission_denied", Message: "DELETE /v1/tasks/x needs a write token"}}})
	f.status["/v1/tasks/x"] = http.StatusForbidden
	r := cli(t, addr, "cancel", "x")
	if r.code != exitFailed || strings.Count(r.stderr, "write token") != 1 || !strings.Contains(r.stderr, "--token-file") {
		t.Errorf("cancel with a read token: exit %d, %q; want one mention of the write token and where to give one", r.code, r.stderr)
	}
}

// TestJobsNameStatesAsJobStatus: `granary jobs` names a job's state as
// `granary job status` does; it said "ok" for a running job and a
// completed one alike.
func TestJobsNameStatesAsJobStatus(t *testing.T) {
	_, addr := newFakeAPI(t, map[string]any{"/v1/jobs": api.JobList{Total: 2, Count: 2, Jobs: []api.JobSummary{
		{ID: "done-job", State: api.StateCompleted}, {ID: "busy-job", State: api.StateRunning}}}})
	r := cli(t, addr, "jobs")
	lines := strings.Split(r.stdout, "\n")
	if r.code != exitOK || len(lines) < 3 || !strings.Contains(lines[1], api.StateCompleted) || !strings.Contains(lines[2], api.StateRunning) || strings.Contains(r.stdout, " ok ") {
		t.Errorf("granary jobs: exit %d; want completed and running, not ok:\n%s", r.code, r.stdout)
	}
}

// TestStatusAfterARestartCountsFromIt: after a job restart a task's budget
// counts from the restart; status said "attempts: 6 of 4".
func TestStatusAfterARestartCountsFromIt(t *testing.T) {
	st := api.Status{ID: "t", Kind: "flaky", State: api.StateRunning, Attempts: 6, BudgetBase: 4, Policy: api.Policy{MaxAttempts: api.Ptr(4)}}
	_, addr := newFakeAPI(t, map[string]any{"/v1/tasks/t": st})
	r := cli(t, addr, "status", "t")
	if r.code != exitOK || strings.Contains(r.stdout, "6 of 4") || !strings.Contains(r.stdout, "6 in all; 2 of 4 since the last restart") {
		t.Errorf("status after a restart: exit %d; want \"6 in all; 2 of 4 since the last restart\":\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestKindsShowExamples: granary kinds shows each kind's example payload,
// from GET /v1/kinds, which the stock kinds all have.
func TestKindsShowExamples(t *testing.T) {
	list := httpapi.KindList(stockKinds(t), nil)
	_, addr := newFakeAPI(t, map[string]any{"/v1/kinds": list})
	r := cli(t, addr, "kinds")
	for _, want := range []string{"EXAMPLE", `{"succeed_on_attempt":2}`, `{"op":"set","name":"wake","after_ms":500}`} {
		if r.code != exitOK || !strings.Contains(r.stdout, want) {
			t.Errorf("granary kinds: exit %d, lacks %s:\n%s%s", r.code, want, r.stdout, r.stderr)
		}
	}
	for _, k := range list.Kinds {
		if len(k.Example) == 0 {
			t.Errorf("GET /v1/kinds: kind %s has no example", k.Name)
		}
	}
}

// TestMembersShowsUnhealthyMembers: a killed member stays registered,
// failing its checks, until Consul reaps it; GET /v1/cluster and the
// console show it, and granary members dropped it.
func TestMembersShowsUnhealthyMembers(t *testing.T) {
	_, addr := newFakeAPI(t, map[string]any{
		"/v1/members": api.MemberList{Count: 1, Members: []api.Member{{ID: "m-a", Addr: "h:7001", HTTPAddr: "h:8081", Healthy: true, Kinds: []string{"echo"}}}},
		"/v1/cluster": api.ClusterReport{Member: "m-a", Count: 2, Members: []api.MemberOverall{
			{ID: "m-a", Health: "healthy"}, {ID: "m-b", Health: "unhealthy", Kinds: []string{"echo"}, Version: "v1"}}},
	})
	r := cli(t, addr, "members")
	if r.code != exitOK || !regexp.MustCompile(`(?m)^m-a .* healthy `).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^m-b .* unhealthy `).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, "2 members (1 not healthy") {
		t.Errorf("granary members: exit %d; want m-a healthy and m-b unhealthy:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cli(t, addr, "members", "--json")
	var list api.MemberList
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || list.Count != 2 || list.Members[1].ID != "m-b" || list.Members[1].Healthy {
		t.Errorf("granary members --json: %v %+v; want m-b listed, not healthy", err, list)
	}
}

// TestGrainClearSaysWhatALiveActivationDoes: clearing the stored state
// does not reach an activation's memory; the command says so.
func TestGrainClearSaysWhatALiveActivationDoes(t *testing.T) {
	_, addr := newFakeAPI(t, map[string]any{"/v1/grains/counter/c1/state": api.GrainState{Kind: "counter", Identity: "c1"}})
	r := cli(t, addr, "grain", "clear", "counter", "c1")
	if r.code != exitOK || !strings.Contains(r.stdout, "keeps the old state in memory") || !strings.Contains(r.stdout, "next activation starts from zero") {
		t.Errorf("grain clear: exit %d; want it to say what a live activation does:\n%s%s", r.code, r.stdout, r.stderr)
	}
}
