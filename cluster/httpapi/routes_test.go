package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
)

func send(t *testing.T, method, u string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// TestMethodNotAllowed: a method a route does not take is 405 with the
// methods it does take (Allow); a path no route has is still 404.
func TestMethodNotAllowed(t *testing.T) {
	srv, _ := apiServer(t, httpapi.DefaultConfig())
	cases := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodPut, "/v1/tasks/t1", http.StatusMethodNotAllowed, "GET, HEAD, DELETE"},
		{http.MethodPatch, "/v1/tasks", http.StatusMethodNotAllowed, "GET, HEAD, POST"},
		{http.MethodGet, "/v1/tasks/t1/restart", http.StatusMethodNotAllowed, "POST"},
		{http.MethodDelete, "/v1/kinds", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodPut, "/v1/nothing", http.StatusNotFound, ""},
		{http.MethodGet, "/v2/tasks", http.StatusNotFound, ""},
	}
	for _, c := range cases {
		resp, body := send(t, c.method, srv.URL+c.path)
		var eb api.ErrorBody
		if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow || json.Unmarshal(body, &eb) != nil || eb.Error.Code == "" {
			t.Errorf("%s %s: %d, Allow %q, %s; want %d, Allow %q and an error body", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), body, c.status, c.allow)
		}
	}
}

// TestKinds: GET /v1/kinds lists the hosted kinds with their defaults.
func TestKinds(t *testing.T) {
	reg := actors.NewRegistry()
	for _, k := range []*actors.TaskKind{
		actors.MustTask("echo", func(_ actors.TaskContext, in echoIn) (echoIn, error) { return in, nil }),
		actors.MustTask("slow", func(_ actors.TaskContext, in echoIn) (echoIn, error) { return in, nil },
			actors.WithMaxAttempts(3), actors.WithAttemptTimeout(time.Minute)),
		actors.MustTask("hidden", func(_ actors.TaskContext, in echoIn) (echoIn, error) { return in, nil }),
	} {
		if err := reg.RegisterTask(k); err != nil {
			t.Fatal(err)
		}
	}
	type nothing struct{}
	leader, err := actors.GrainOf("leader", func() actors.TypedGrain[nothing, nothing] { return nil }, actors.Singleton())
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterGrain(leader); err != nil {
		t.Fatal(err)
	}
	cfg := httpapi.DefaultConfig()
	cfg.Registry, cfg.Kinds = reg, []string{"slow", "echo", "leader"}
	srv, _ := apiServer(t, cfg)
	resp, body := send(t, http.MethodGet, srv.URL+"/v1/kinds")
	var list api.KindList
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &list) != nil || list.Count != 3 {
		t.Fatalf("GET /v1/kinds: %d %s", resp.StatusCode, body)
	}
	got := fmt.Sprintf("%s/%s %s/%s %s/%s singleton=%v", list.Kinds[0].Name, list.Kinds[0].Type, list.Kinds[1].Name, list.Kinds[1].Type,
		list.Kinds[2].Name, list.Kinds[2].Type, list.Kinds[2].Singleton)
	if got != "echo/task slow/task leader/grain singleton=true" {
		t.Errorf("kinds: %s", got)
	}
	slow := list.Kinds[1].Defaults
	if slow == nil || *slow.MaxAttempts != 3 || time.Duration(*slow.AttemptTimeout) != time.Minute || slow.BackoffInitial == nil || *slow.Jitter != "equal" {
		t.Errorf("slow's defaults: %s", body)
	}
	if !strings.Contains(string(body), `"attempt_timeout":"1m0s"`) {
		t.Errorf("durations are not written as Go durations: %s", body)
	}
}

// TestListPages: GET /v1/tasks answers newest first, a page of ?limit=
// (100 without it) with the cursor of the next; the filters select by
// state, kind, label and job, and bad queries are 400.
func TestListPages(t *testing.T) {
	srv, m := apiServer(t, httpapi.DefaultConfig())
	ctx := testutil.Context(t, 30*time.Second)
	const n = 120
	for i := range n {
		sub := tasks.Submission{ID: fmt.Sprintf("t%03d", i), Kind: "echo", Payload: []byte(`{"n":1}`)}
		if i%10 == 0 {
			sub.Kind, sub.Labels = "sleep", map[string]string{"team": "a"}
		}
		if i%40 == 1 {
			sub.JobID = "j"
		}
		if _, _, err := m.Submit(ctx, sub); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Microsecond) // distinct submission times, so newest first is t119 … t000
	}
	get := func(q string) (int, api.TaskList, string) {
		t.Helper()
		resp, body := send(t, http.MethodGet, srv.URL+"/v1/tasks?"+q)
		var list api.TaskList
		_ = json.Unmarshal(body, &list)
		return resp.StatusCode, list, string(body)
	}
	ids := func(l api.TaskList) []string {
		var out []string
		for _, st := range l.Tasks {
			out = append(out, st.ID)
		}
		return out
	}
	code, first, body := get("")
	if code != 200 || first.Count != httpapi.DefaultListLimit || first.Tasks[0].ID != "t119" || first.Next == "" {
		t.Fatalf("the first page: %d, %d tasks, next %q: %.300s", code, first.Count, first.Next, body)
	}
	_, rest, _ := get("cursor=" + url.QueryEscape(first.Next))
	if rest.Count != n-httpapi.DefaultListLimit || rest.Next != "" || rest.Tasks[0].ID != fmt.Sprintf("t%03d", n-1-httpapi.DefaultListLimit) || rest.Tasks[rest.Count-1].ID != "t000" {
		t.Fatalf("the second page: %v, next %q", ids(rest), rest.Next)
	}
	if _, l, _ := get("limit=3"); fmt.Sprint(ids(l)) != "[t119 t118 t117]" || l.Next == "" {
		t.Errorf("limit=3: %v next %q", ids(l), l.Next)
	}
	if _, l, _ := get("kind=sleep&limit=5"); fmt.Sprint(ids(l)) != "[t110 t100 t090 t080 t070]" {
		t.Errorf("kind=sleep: %v", ids(l))
	}
	if _, l, _ := get("label=team%3Da&kind=sleep&limit=1000"); l.Count != 12 || l.Next != "" {
		t.Errorf("label=team=a: %d tasks, next %q", l.Count, l.Next)
	}
	if _, l, _ := get("job=j"); fmt.Sprint(ids(l)) != "[t081 t041 t001]" {
		t.Errorf("job=j: %v", ids(l))
	}
	if _, l, _ := get("state=failed"); l.Count != 0 || l.Tasks == nil {
		t.Errorf("state=failed: %+v", l)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=nope", "label=novalue", "kind=a&kind=b", "job=../x", "state=done"} {
		if code, _, body := get(q); code != http.StatusBadRequest || !strings.Contains(body, "invalid_argument") {
			t.Errorf("?%s: %d %s; want 400", q, code, body)
		}
	}
}

// TestHostileSubmits: a payload that is not UTF-8 is refused (stored, it
// made every answer carrying it invalid JSON), a kind of any length is
// refused without being echoed whole, and ?local= takes only a boolean.
func TestHostileSubmits(t *testing.T) {
	srv, _ := apiServer(t, httpapi.DefaultConfig())
	post := func(body string) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/v1/tasks", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("{\"kind\":\"echo\",\"id\":\"u8\",\"payload\":{\"text\":\"\xff\xfe\"}}"); code != http.StatusBadRequest || !strings.Contains(body, "UTF-8") {
		t.Errorf("a payload that is not UTF-8: %d %s, want 400 naming UTF-8", code, body)
	}
	if resp, body := send(t, http.MethodGet, srv.URL+"/v1/tasks/u8"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the task with the bad payload: %d %s, want 404 (never stored)", resp.StatusCode, body)
	}
	long := strings.Repeat("k", 100000)
	if code, body := post(`{"kind":"` + long + `"}`); code != http.StatusBadRequest || len(body) > 1000 {
		t.Errorf("a 100 kB kind: %d and a %d-byte answer, want 400 in under 1000 bytes", code, len(body))
	}
	for q, want := range map[string]int{"local=1": http.StatusNotFound, "local=false": http.StatusNotFound, "local=yes-please": http.StatusBadRequest} {
		if resp, body := send(t, http.MethodGet, srv.URL+"/v1/tasks/nope?"+q); resp.StatusCode != want {
			t.Errorf("GET ?%s: %d %s, want %d", q, resp.StatusCode, body, want)
		}
	}
}
