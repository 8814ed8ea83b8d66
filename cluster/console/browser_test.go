package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// The tokens of the browser test's cluster.
const (
	writeToken = "console-test-write-token-0123456789"
	readToken  = "console-test-read-token-0123456789"
)

// Attacker-controlled text the pages must show as text: were any of it
// parsed as HTML, an element would exist or window.__pwned would be set.
const (
	xssLabel  = `<img src=x onerror="window.__pwned='label'">`
	xssResult = `<script>window.__pwned='result'</script><img src=x onerror="window.__pwned='result-img'">`
	xssReason = `<img src=x onerror="window.__pwned='reason'"><script>window.__pwned='reason-script'</script>`
)

// noInjection is true when no element came from data: the console itself
// renders no img and no script inside main, and nothing set __pwned.
const noInjection = `document.querySelectorAll("main img, main script, main iframe, main svg").length === 0 && window.__pwned === undefined`

// TestConsoleInBrowser drives headless Chromium against a real cluster of
// three `granary node` processes on a real Consul agent, with API tokens:
// the console asks for a token (401), every page renders live data, a task
// submitted through the form is seen running then completed, data written
// by an attacker (labels, results, cancel reasons) shows as text, a read
// token's write is refused with a clear 403, the failing task is cancelled
// with its button, a supervision tree three deep is drawn with each job's
// state and budget and stopped with its button, and a member killed with SIGKILL turns unhealthy on the
// cluster page, even with the page's polls held back as on a loaded
// machine. Each page is saved as a screenshot: to t.TempDir(), or to
// $GRANARY_SCREENSHOTS (relative paths from the module root), which is how
// docs/console/*.png are made:
//
//	GRANARY_SCREENSHOTS=docs/console go test -run TestConsoleInBrowser ./cluster/console
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul, three granary processes and Chromium")
	}
	chrome := chromium(t)
	agent := testconsul.Start(t, testconsul.Options{})
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("write "+writeToken+"\nread "+readToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// testnode's clients (its join check lists the members: a write
	// route) take the token from the environment.
	t.Setenv("GRANARY_TOKEN", writeToken)
	a := testnode.ClusterNode(t, "ui", agent.HTTPAddr(), "ui-a", "--tokens", tokens)
	b := testnode.ClusterNode(t, "ui", agent.HTTPAddr(), "ui-b", "--tokens", tokens)
	c := testnode.ClusterNode(t, "ui", agent.HTTPAddr(), "ui-c", "--tokens", tokens)
	ctx := testutil.Context(t, 4*time.Minute)
	cl, err := client.New(client.Config{Addrs: []string{a.HTTP, b.HTTP}, Token: writeToken})
	if err != nil {
		t.Fatal(err)
	}
	d := seed(t, ctx, cl)
	shots := screenshotDir(t)

	bctx := browser(t, ctx, chrome)
	base := "http://" + a.HTTP + "/ui/"
	br := &page{t: t, ctx: bctx, shots: shots}

	t.Run("token prompt on 401", func(t *testing.T) {
		br.t = t
		br.do(chromedp.Navigate(base + "#/cluster"))
		br.waitJS(`!document.getElementById("token-panel").hidden && document.getElementById("token-reason").textContent.includes("401")`,
			"the token panel, saying 401")
		br.do(chromedp.SendKeys(chromedp.CSS("#token-input"), writeToken), chromedp.Click(chromedp.CSS("#token-form button[type=submit]")))
		br.waitJS(`document.getElementById("token-panel").hidden`, "the token panel to close")
		if got := br.evalString(`sessionStorage.getItem("granary.token")`); got != writeToken {
			t.Fatalf("sessionStorage holds %q, want the token entered", got)
		}
	})

	t.Run("cluster", func(t *testing.T) {
		br.t = t
		br.waitJS(`document.querySelectorAll("#members tbody tr").length === 3 && [...document.querySelectorAll("#members tbody tr")].every(r => r.textContent.includes("healthy"))`,
			"three healthy members")
		for _, id := range []string{"ui-a", "ui-b", "ui-c"} {
			row := br.evalString(fmt.Sprintf(`document.querySelector('#members tr[data-member=%q]').textContent`, id))
			if !strings.Contains(row, "sleep") || !strings.Contains(row, "no") {
				t.Errorf("member %s's row %q: want its kinds and fenced no", id, row)
			}
		}
		br.shot("cluster")
	})

	t.Run("tasks", func(t *testing.T) {
		br.t = t
		br.do(chromedp.Navigate(base + "#/tasks"))
		br.waitJS(`document.querySelector("#task-counts") && document.querySelectorAll("table.tasks tbody tr").length >= 5 && document.querySelector("#kind-counts")`, "counts and the task list")
		br.waitJS(`document.querySelector("table.tasks").textContent.includes('x=`+jsEscape(xssLabel)+`')`, "the hostile label, as text")
		br.noInjection()
		br.shot("tasks")
		// A filter narrows the list, through the URL.
		br.do(chromedp.Navigate(base + "#/tasks?kind=echo"))
		br.waitJS(`document.querySelectorAll("table.tasks tbody tr").length >= 1 && [...document.querySelectorAll("table.tasks tbody tr")].every(r => r.children[1].textContent === "echo")`, "only echo tasks")
	})

	t.Run("task with hostile data", func(t *testing.T) {
		br.t = t
		br.do(chromedp.Navigate(base + "#/task/" + d.echo))
		br.waitJS(`document.getElementById("task-result") && document.getElementById("task-result").textContent.includes("<script>")`, "the hostile result, as text")
		br.noInjection()
		br.do(chromedp.Navigate(base + "#/task/" + d.cancelled))
		br.waitJS(`document.getElementById("task-error") && document.getElementById("task-error").textContent.includes("<img src=x")`, "the hostile cancel reason, as text")
		br.noInjection()
		br.do(chromedp.Navigate(base + "#/task/" + d.dead))
		br.waitJS(`document.querySelectorAll("#attempts li.failed").length === 2 && document.getElementById("attempts").textContent.includes("ui-")`, "two failed attempts with their member")
		br.shot("task")
	})

	t.Run("job", func(t *testing.T) {
		br.t = t
		br.do(chromedp.Navigate(base + "#/jobs"))
		br.waitJS(`document.querySelector("#jobs") && document.querySelector("#jobs").textContent.includes("nightly")`, "the job in the list")
		br.shot("jobs")
		br.do(chromedp.Navigate(base + "#/job/nightly"))
		br.waitJS(`document.querySelectorAll("#job-tree li[data-stage]").length === 3 && document.querySelector("#job-tree").textContent.includes("rest_for_one")`, "the job's three stages and its strategy")
		br.waitJS(`document.querySelectorAll("#restart-log tbody tr").length === 2 && document.querySelector("#restart-log").textContent.includes("stages after 1")`, "two restarts with the strategy's decision")
		br.shot("job")
	})

	t.Run("job tree, stopped from the page", func(t *testing.T) {
		br.t = t
		br.do(chromedp.Navigate(base + "#/job/shop"))
		br.waitJS(`document.querySelector("#job-tree li[data-job='shop-cache'][data-depth='2'] li[data-task='shop-cache-1']") && document.querySelector("#job-tree li[data-job='shop-db'] li[data-task='shop-db-1']")`,
			"the tree three deep with its tasks")
		root := br.evalString(`document.querySelector("#job-tree li[data-job='shop'] .row").textContent`)
		web := br.evalString(`document.querySelector("#job-tree li[data-job='shop-web'] .row").textContent`)
		if !strings.Contains(root, "one_for_all") || !strings.Contains(root, "budget 0 of 2 per 1m0s") || !strings.Contains(root, "restarts 0") || !strings.Contains(web, "permanent") {
			t.Errorf("the tree's rows: %q, %q; want the strategy, budget, restarts and restart type", root, web)
		}
		br.shot("job-tree")
		br.do(chromedp.Click(chromedp.CSS("#stop-job")))
		br.waitJS(`document.querySelector("#job-tree li[data-job='shop']").dataset.state !== "running" && document.querySelector("#job-tree li[data-task='shop-cache-1'] .b-cancelled")`,
			"the stopped tree, its deepest task cancelled")
		if st, err := cl.Get(ctx, "shop-db-1"); err != nil || st.State != api.StateCancelled {
			t.Fatalf("after the stop button shop-db-1 is %+v (%v), want cancelled", st, err)
		}
	})

	t.Run("grains", func(t *testing.T) {
		br.t = t
		br.do(chromedp.Navigate(base + "#/grains"))
		br.waitJS(`document.querySelector("#activations") && document.querySelector("#activations").textContent.includes("counter")`, "counter activations")
		br.waitJS(`document.querySelectorAll("#grain-kind option").length > 0`, "the grain kinds")
		br.do(chromedp.SetValue(chromedp.CSS("#grain-kind"), "counter"),
			chromedp.SendKeys(chromedp.CSS("#grain-id"), "from-the-console"),
			chromedp.SetValue(chromedp.CSS("#grain-payload"), `{"op":"add","n":5}`), // replaces the kind's example
			chromedp.Click(chromedp.CSS("#grain-form button[type=submit]")))
		br.waitJS(`document.getElementById("grain-reply").textContent.includes("ui-")`, "the grain's reply, naming its member")
		br.shot("grains")
	})

	t.Run("failures: read token refused, write token cancels", func(t *testing.T) {
		br.t = t
		br.do(chromedp.Navigate(base + "#/failures"))
		br.waitJS(`document.querySelector("table.dead-letters tr[data-task='`+d.dead+`']") && document.querySelector("table.failing tr[data-task='`+d.failing+`']")`, "the dead letter and the failing task")
		br.shot("failures")
		br.evalString(`sessionStorage.setItem("granary.token", "` + readToken + `"); ""`)
		br.do(chromedp.Click(chromedp.CSS(`table.failing tr[data-task='` + d.failing + `'] button[data-action=cancel]`)))
		br.waitJS(`!document.getElementById("error").hidden && document.getElementById("error").textContent.includes("403")`, "a 403 message")
		if st, err := cl.Get(ctx, d.failing); err != nil || st.State != api.StateRetrying {
			t.Fatalf("after a cancel with a read token the task is %v (%v), want still retrying", st, err)
		}
		br.evalString(`sessionStorage.setItem("granary.token", "` + writeToken + `"); ""`)
		br.do(chromedp.Click(chromedp.CSS(`table.failing tr[data-task='` + d.failing + `'] button[data-action=cancel]`)))
		br.waitJS(`!document.querySelector("table.failing tr[data-task='`+d.failing+`']")`, "the cancelled task to leave the failing list")
		if st, err := cl.Get(ctx, d.failing); err != nil || st.State != api.StateCancelled {
			t.Fatalf("after the cancel button the task is %v (%v), want cancelled", st, err)
		}
		// A dead letter's Retry sends it round again, counted.
		br.do(chromedp.Click(chromedp.CSS(`table.dead-letters tr[data-task='` + d.dead + `'] button[data-action=retry]`)))
		testutil.Eventually(t, 30*time.Second, func() (bool, string) {
			st, err := cl.Get(ctx, d.dead)
			return err == nil && st.Retries == 1, fmt.Sprintf("after the retry button %s is %+v (%v), want sent round again once", d.dead, st, err)
		})
	})

	t.Run("submit: running then completed", func(t *testing.T) {
		br.t = t
		br.do(chromedp.Navigate(base + "#/submit"))
		br.waitJS(`[...document.querySelectorAll("#submit-kind option")].some(o => o.value === "sleep")`, "the task kinds")
		br.do(chromedp.SetValue(chromedp.CSS("#submit-kind"), "sleep"),
			chromedp.SetValue(chromedp.CSS("#submit-payload"), `{"ms":4000}`), // replaces the kind's example
			chromedp.SendKeys(chromedp.CSS("#submit-labels"), "from=console"))
		br.shot("submit")
		br.do(chromedp.Click(chromedp.CSS("#submit-button")))
		br.waitJS(`location.hash.startsWith("#/task/") && document.getElementById("task") && document.getElementById("task").dataset.state === "running"`, "the submitted task running")
		id := strings.TrimPrefix(br.evalString(`decodeURIComponent(location.hash)`), "#/task/")
		br.waitJS(`document.getElementById("task").dataset.state === "completed"`, "the submitted task completed, without a reload")
		st, err := cl.Get(ctx, id)
		if err != nil || st.State != api.StateCompleted || st.Labels["from"] != "console" {
			t.Fatalf("the task the form submitted: %+v (%v); want completed with label from=console", st, err)
		}
	})

	t.Run("schedules: next run, paused from the page", func(t *testing.T) {
		br.t = t
		if _, err := cl.PutSchedule(ctx, "report", api.ScheduleSpec{Cron: "0 3 * * *", TimeZone: "Asia/Kolkata",
			Task: api.SubmitRequest{Kind: "echo", Labels: map[string]string{"x": xssLabel}}}); err != nil {
			t.Fatal(err)
		}
		br.do(chromedp.Navigate(base + "#/schedules"))
		br.waitJS(`document.querySelector('#schedules tr[data-schedule="report"]') && document.querySelector('#schedules tr[data-schedule="report"] .next-run').textContent.includes("T21:30:00Z (in ")`,
			"the schedule with its next run")
		br.noInjection()
		br.shot("schedules")
		br.do(chromedp.Click(chromedp.CSS(`#schedules tr[data-schedule="report"] button`)))
		br.waitJS(`document.querySelector('#schedules tr[data-schedule="report"]').textContent.includes("paused")`, "the schedule paused")
		if s, err := cl.Schedule(ctx, "report"); err != nil || !s.Paused || s.NextRun != nil {
			t.Fatalf("after Pause: %+v, %v; want paused, no next run", s, err)
		}
	})

	t.Run("killed member turns unhealthy", func(t *testing.T) {
		br.t = t
		// The page's polls are held back as after a 600 ms answer (a
		// loaded machine): the cluster page must refresh anyway, within
		// HEALTH_POLL_MAX_MS, for the killed member to show.
		br.evalString(`gate.notBefore = Date.now() + 200 * 600; ""`)
		br.do(chromedp.Navigate(base + "#/cluster"))
		br.waitJS(`document.querySelectorAll("#members tbody tr").length === 3`, "three members")
		if held := br.evalString(`String(gate.notBefore - Date.now())`); br.evalString(`String(gate.notBefore - Date.now() > 60000)`) != "true" {
			t.Fatalf("the gate holds polls back %s ms, want a minute or more (the same document)", held)
		}
		if err := syscall.Kill(c.PID(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		br.waitJS(`(() => { const r = document.querySelector('#members tr[data-member="ui-c"]'); return r && r.querySelector(".b-unhealthy") !== null })()`,
			"ui-c shown unhealthy")
		// The failing check's output names no address (/v1/cluster is a
		// read route; addresses are for write tokens).
		if txt := br.evalString(`document.getElementById("members").textContent`); strings.Contains(txt, c.HTTP) || strings.Contains(txt, c.Bind) {
			t.Errorf("the cluster page names ui-c's addresses (%s, %s): %s", c.HTTP, c.Bind, txt)
		}
		br.shot("cluster-member-killed")
	})
	_ = b
}

// seeded names the tasks seed made.
type seeded struct {
	echo, cancelled, dead, failing string
}

// seed fills the cluster: a completed task with a hostile label and
// result, a task cancelled with a hostile reason, a dead letter, a task
// failing between attempts, a two-stage job, and counter activations.
func seed(t *testing.T, ctx context.Context, c *client.Client) seeded {
	t.Helper()
	var d seeded
	result, _ := json.Marshal(xssResult)
	st, err := c.SubmitAndWait(ctx, api.SubmitRequest{Kind: "echo", Payload: result, Labels: map[string]string{"x": xssLabel}}, nil)
	if err != nil || st.State != api.StateCompleted {
		t.Fatalf("echo task: %+v %v", st, err)
	}
	d.echo = st.ID
	st, err = c.Submit(ctx, api.SubmitRequest{Kind: "sleep", Payload: json.RawMessage(`{"ms":600000}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CancelWithReason(ctx, st.ID, xssReason); err != nil {
		t.Fatal(err)
	}
	d.cancelled = st.ID
	st, err = c.SubmitAndWait(ctx, api.SubmitRequest{Kind: "flaky", Payload: json.RawMessage(`{"fail_rate":1}`),
		Policy: &api.Policy{MaxAttempts: api.Ptr(2), BackoffInitial: api.Ptr(api.Duration(10 * time.Millisecond))}}, nil)
	if err != nil || st.State != api.StateFailed {
		t.Fatalf("dead letter: %+v %v", st, err)
	}
	d.dead = st.ID
	st, err = c.Submit(ctx, api.SubmitRequest{Kind: "flaky", Payload: json.RawMessage(`{"fail_rate":1}`),
		Policy: &api.Policy{MaxAttempts: api.Ptr(10), BackoffInitial: api.Ptr(api.Duration(time.Hour)), BackoffMax: api.Ptr(api.Duration(time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	d.failing = st.ID
	for {
		st, err := c.Get(ctx, d.failing)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == api.StateRetrying {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the failing task never got to retrying: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A rest_for_one job whose middle stage always fails: it restarts
	// the job (its own stage and the later one) until the budget of 2
	// restarts is spent, then the job fails.
	job := []api.SubmitRequest{
		{Kind: "echo", Payload: json.RawMessage(`{"step":1}`)},
		{Kind: "flaky", Payload: json.RawMessage(`{"fail_rate":1}`), Policy: &api.Policy{MaxAttempts: api.Ptr(1)}},
		{Kind: "sleep", Payload: json.RawMessage(`{"ms":300000}`)},
	}
	// The failing stage goes last: a job that has failed takes no more
	// tasks, and it can fail before the next submit arrives.
	for _, stage := range []int{0, 2, 1} {
		req := job[stage]
		req.JobID, req.JobStrategy, req.JobStage, req.JobMaxRestarts = "nightly", "rest_for_one", stage, 2
		if _, err := c.Submit(ctx, req); err != nil {
			t.Fatalf("job nightly, stage %d: %v", stage, err)
		}
	}
	seedTree(t, ctx, c)
	for i := range 6 {
		if _, err := c.CallRaw(ctx, "counter", fmt.Sprintf("c%d", i), []byte(`{"op":"add","n":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// seedTree declares a supervision tree three deep, shop > (db, web >
// cache), with a long-running task in db and in cache.
func seedTree(t *testing.T, ctx context.Context, c *client.Client) {
	t.Helper()
	for _, j := range []struct {
		id   string
		spec api.JobSpec
	}{
		{"shop", api.JobSpec{Strategy: "one_for_all", MaxRestarts: 2, RestartPeriod: api.Ptr(api.Duration(time.Minute))}},
		{"shop-db", api.JobSpec{Parent: "shop", Stage: 0, Significant: true}},
		{"shop-web", api.JobSpec{Parent: "shop", Stage: 1, Restart: api.RestartPermanent}},
		{"shop-cache", api.JobSpec{Parent: "shop-web", AutoShutdown: api.AutoShutdownAnySignificant}},
	} {
		if _, err := c.DeclareJob(ctx, j.id, j.spec); err != nil {
			t.Fatalf("declaring %s: %v", j.id, err)
		}
	}
	for _, job := range []string{"shop-db", "shop-cache"} {
		if _, err := c.Submit(ctx, api.SubmitRequest{ID: job + "-1", Kind: "sleep", Payload: json.RawMessage(`{"ms":600000}`), JobID: job, Restart: api.RestartTemporary}); err != nil {
			t.Fatalf("a task in %s: %v", job, err)
		}
	}
}

// chromium finds the browser: $CHROMIUM_BIN, else chromium,
// chromium-browser or google-chrome on PATH; it fails the test, saying how
// to get one, if there is none.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM_BIN"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the console's browser test needs Chromium: run `make test` (it installs Debian's chromium package when missing: internal/scripts/install-chromium.sh), " +
		"or `apt-get install -y chromium`, or set CHROMIUM_BIN; `go test -short` skips this test")
	return ""
}

// browser starts headless Chromium (no sandbox: tests may run as root; a
// fresh profile in a temporary directory). Cancelling its context, at the
// test's end, kills the browser.
func browser(t *testing.T, ctx context.Context, bin string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", bin, err)
	}
	return bctx
}

// screenshotDir is where the screenshots go: $GRANARY_SCREENSHOTS
// (relative to the module root), else a temporary directory.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("GRANARY_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if !filepath.IsAbs(dir) {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// page drives the browser tab for one (sub)test at a time.
type page struct {
	t     *testing.T
	ctx   context.Context
	shots string
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v\npage: %s", err, p.text())
	}
}

func (p *page) evalString(js string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		p.t.Fatalf("browser: evaluating %s: %v", js, err)
	}
	return s
}

// waitJS polls a JavaScript condition until it holds, for 30s at most.
func (p *page) waitJS(cond, what string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("browser: waited 30s for %s (%v)\npage: %s", what, err, p.text())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noInjection checks that nothing from the data became an element or ran.
func (p *page) noInjection() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](noInjection))
	if err != nil || !ok {
		pwned, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.__pwned)`))
		p.t.Fatalf("hostile data became markup (window.__pwned=%s, err %v)\npage: %s", pwned, err, p.text())
	}
}

func (p *page) text() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? location.hash + "\n" + document.body.innerText : ""`))
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	if len(s) > 3000 {
		s = s[:3000] + "…"
	}
	return s
}

// shot saves the viewport as name.png.
func (p *page) shot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(p.shots, name+".png"), buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// jsEscape escapes s for a single-quoted JavaScript string.
func jsEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s)
}
