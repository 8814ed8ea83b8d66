package console_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/console"
	"github.com/granary-rt/granary/internal/testutil"
)

// cannedAPI answers the console's reads with fixed bodies, so that pages
// can be checked in a browser without a cluster.
func cannedAPI(t *testing.T) http.Handler {
	t.Helper()
	bodies := map[string]any{
		"/v1/kinds": api.KindList{Count: 3, Kinds: []api.Kind{
			{Name: "pi", Type: api.KindTask, Example: json.RawMessage(`{"samples":1000000}`)},
			{Name: "sleep", Type: api.KindTask, Example: json.RawMessage(`{"ms":3000}`)},
			{Name: "counter", Type: api.KindGrain, Durable: true, Example: json.RawMessage(`{"op":"add","n":1}`)},
		}},
		"/v1/jobs": api.JobList{Count: 2, Total: 2, Jobs: []api.JobSummary{
			{ID: "done-job", Strategy: "one_for_one", State: api.StateCompleted}, {ID: "busy-job", Strategy: "one_for_all", State: api.StateRunning}}},
		"/v1/grains/counter/alice/state": api.GrainState{Kind: "counter", Identity: "alice", Version: 3, State: json.RawMessage(`{"total":41}`),
			Reminders: []api.Reminder{{Name: "tick", Due: time.Now().Add(time.Minute), Period: api.Duration(2 * time.Second)}}},
		"/v1/tasks:stats": api.TaskStats{Total: 1, ByState: map[string]int{"completed": 1}, At: time.Now(), Took: api.Duration(1500 * time.Microsecond)},
		"/v1/tasks":       api.TaskList{},
		"/v1/cluster":     api.ClusterReport{Member: "m1", At: time.Now()},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		body, ok := bodies[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrorDetail{Code: "not_found", Message: "no route for " + r.URL.Path}})
			return
		}
		_ = json.NewEncoder(w).Encode(body)
	})
}

// TestConsolePagesForANewUser drives the console in Chromium against a
// canned API: an unknown route is a not-found page (it showed a list); the
// submit form starts from the chosen kind's example payload (it offered
// {"ms": 3000} for every kind); the jobs list names each job's state (it
// said "supervised" for all); the grains page shows a durable grain's
// stored state and reminders (it showed neither); the count interval is
// rounded ("6.7s", not "6.6573066s").
func TestConsolePagesForANewUser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Chromium")
	}
	chrome := chromium(t)
	srv := httptest.NewServer(console.Mount(cannedAPI(t), console.DefaultConfig()))
	t.Cleanup(srv.Close)
	ctx := testutil.Context(t, 2*time.Minute)
	br := &page{t: t, ctx: browser(t, ctx, chrome), shots: t.TempDir()}
	base := srv.URL + "/ui/"

	br.do(chromedp.Navigate(base + "#/nowhere"))
	br.waitJS(`document.querySelector("#not-found h1") && document.querySelector("#not-found").textContent.includes("#/nowhere") && document.querySelectorAll("#not-found li").length > 3`,
		"a not-found page naming the route and listing the pages")

	br.do(chromedp.Navigate(base + "#/submit?kind=sleep"))
	br.waitJS(`document.getElementById("submit-payload").value === '{"ms":3000}'`, "sleep's example payload")
	br.do(chromedp.SetValue(chromedp.CSS("#submit-kind"), "pi"))
	br.evalString(`String(document.getElementById("submit-kind").dispatchEvent(new Event("change")))`)
	br.waitJS(`document.getElementById("submit-payload").value === '{"samples":1000000}'`, "pi's example payload once pi is chosen")

	br.do(chromedp.Navigate(base + "#/jobs"))
	br.waitJS(`document.querySelectorAll("#jobs .job-state").length === 2`, "the jobs' states")
	if got := br.evalString(`[...document.querySelectorAll("#jobs .job-state")].map(e => e.textContent).join(",")`); got != "completed,running" {
		t.Errorf("the jobs list's states: %q, want completed,running", got)
	}

	br.do(chromedp.Navigate(base + "#/grains"))
	br.waitJS(`document.querySelectorAll("#state-kind option").length === 1`, "the durable grain kinds")
	br.do(chromedp.SendKeys(chromedp.CSS("#state-id"), "alice"), chromedp.Click(chromedp.CSS("#grain-state-form button[type=submit]")))
	br.waitJS(`document.getElementById("grain-state-value") && document.getElementById("grain-state-value").textContent.includes("41") && document.querySelector("#grain-reminders") && document.querySelector("#grain-reminders").textContent.includes("tick") && document.querySelector("#grain-reminders").textContent.includes("2.0s")`,
		"alice's state and its reminder tick every 2.0s")

	br.do(chromedp.Navigate(base + "#/tasks"))
	br.waitJS(`document.body.innerText.includes("in 2ms")`, "the count's time rounded")
}

// TestTaskCountsKeepMovingUnderLoad: with a slow task listing (a loaded
// node), the gate that spaces the page's polls held the counts back 200 x
// the listing's answer time: they froze for 18 s after the page opened.
// The counts are cheap for the node (made at most once per interval) and
// are now held back 5 s at most.
func TestTaskCountsKeepMovingUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Chromium")
	}
	chrome := chromium(t)
	var counted atomic.Int64
	canned := cannedAPI(t)
	slowList := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/tasks":
			time.Sleep(150 * time.Millisecond) // 200 x 150 ms: a 30 s gate
		case "/v1/tasks:stats":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(api.TaskStats{Total: int(counted.Add(1)), ByState: map[string]int{}, At: time.Now()})
			return
		}
		canned.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(console.Mount(slowList, console.DefaultConfig()))
	t.Cleanup(srv.Close)
	ctx := testutil.Context(t, 2*time.Minute)
	br := &page{t: t, ctx: browser(t, ctx, chrome), shots: t.TempDir()}
	br.do(chromedp.Navigate(srv.URL + "/ui/#/tasks"))
	br.waitJS(`document.querySelector("#task-counts")`, "the counts")
	first := br.evalString(`document.querySelector("#task-counts .card, #task-counts div").textContent`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, _ := strconv.Atoi(br.evalString(`String(document.querySelector("#task-counts").textContent.match(/\d+/)[0])`))
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the counts moved from %q to total %d in 15 s; want at least two fresh counts (they froze behind the slow listing)", first, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestTaskPageShowsItsTree: a task's page links to its parent, to the
// tasks it runs after and to its children's job with their counts (it
// showed none of them: the parent only as a label, children and
// depends_on not at all), beside its last checkpoint's time and size.
func TestTaskPageShowsItsTree(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Chromium")
	}
	chrome := chromium(t)
	saved := time.Now().Add(-time.Minute)
	canned := cannedAPI(t)
	tree := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body any
		switch r.URL.Path {
		case "/v1/tasks/wc:s1":
			body = api.Status{ID: "wc:s1", Kind: "shard", State: api.StateRunning, Labels: map[string]string{"granary.parent": "wc"},
				DependsOn: []string{"prep-a", "prep-b"}, CheckpointAt: &saved, CheckpointBytes: 42, CheckpointAttempt: 2}
		case "/v1/jobs/wc:s1:children":
			body = api.JobStatus{ID: "wc:s1:children", State: api.StateRunning, Counts: map[string]int{"completed": 2, "running": 1, "failed": 0}}
		default:
			canned.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})
	srv := httptest.NewServer(console.Mount(tree, console.DefaultConfig()))
	t.Cleanup(srv.Close)
	ctx := testutil.Context(t, 2*time.Minute)
	br := &page{t: t, ctx: browser(t, ctx, chrome), shots: t.TempDir()}
	br.do(chromedp.Navigate(srv.URL + "/ui/#/task/" + "wc%3As1"))
	br.waitJS(`document.getElementById("task-children") && document.getElementById("task-checkpoint")`, "the task's children and checkpoint")
	for _, c := range []struct{ js, want string }{
		{`document.getElementById("task-parent").textContent + " " + document.querySelector("#task-parent a").getAttribute("href")`, "wc #/task/wc"},
		{`document.getElementById("task-depends").textContent`, "prep-a, prep-b"},
		{`document.getElementById("task-children").textContent + " " + document.querySelector("#task-children a").getAttribute("href")`, "3 children (2 completed, 1 running) #/job/wc%3As1%3Achildren"},
		{`document.getElementById("task-checkpoint").textContent.replace(/saved .* by/, "saved … by")`, "42 bytes, saved … by attempt 2"},
	} {
		if got := br.evalString(c.js); got != c.want {
			t.Errorf("%s = %q, want %q", c.js, got, c.want)
		}
	}
}
