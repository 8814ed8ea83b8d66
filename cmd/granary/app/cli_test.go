package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/examples/kinds"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testnode"
)

type result struct {
	code           int
	stdout, stderr string
}

func cli(t *testing.T, addr string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, stdin: strings.NewReader(`{"ms":1}`), getenv: func(k string) string {
		if k == "GRANARY_ADDR" {
			return addr
		}
		return ""
	}, reg: stockKinds(t)}
	code := run(e, args)
	return result{code, out.String(), errOut.String()}
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"submit"}, "--kind is required"},
		{[]string{"submit", "--kind", "echo", "--payload", "{nope"}, "not valid JSON"},
		{[]string{"submit", "--kind", "echo", "--payload", "1", "--payload-file", "x"}, "not both"},
		{[]string{"submit", "--kind", "echo", "--max-attempts", "many"}, "invalid value"},
		{[]string{"submit", "--kind", "echo", "--label", "novalue"}, "not key=value"},
		{[]string{"status"}, "exactly one task id"},
		{[]string{"wait"}, "at least one task id"},
		{[]string{"tasks", "--state", "done"}, `unknown state "done"`},
		{[]string{"dev", "--log-level", "loud"}, "--log-level"},
		{[]string{"status", "x", "--addr", "ftp://h"}, "not an http(s) URL"},
		{[]string{"job", "frobnicate", "j"}, `unknown subcommand "frobnicate"`},
		{[]string{"job", "create"}, "exactly one job id"},
		{[]string{"job", "create", "a", "b"}, "exactly one job id"},
		{[]string{"job", "create", "j", "--shutdown", "soon"}, "brutal_kill"},
		{[]string{"job", "create", "j", "--max-restarts", "many"}, "invalid value"},
		{[]string{"job", "tree"}, "exactly one job id"},
		{[]string{"job", "stop", "j", "--wait=maybe"}, "invalid boolean"},
		{[]string{"job", "status"}, "exactly one job id"},
		{[]string{"submit", "--kind", "echo", "--at", "tomorrow"}, "RFC 3339"},
		{[]string{"submit", "--kind", "echo", "--after", "-5s"}, "--after -5s"},
		{[]string{"submit", "--kind", "echo", "--after", "1m", "--at", "2030-01-01T00:00:00Z"}, "--at or --after"},
		{[]string{"schedule", "frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"schedule", "create"}, "exactly one schedule id"},
		{[]string{"schedule", "create", "s", "--kind", "echo"}, "--cron is required"},
		{[]string{"schedule", "create", "s", "--cron", "@daily"}, "--kind is required"},
		{[]string{"schedule", "pause"}, "exactly one schedule id"},
		{[]string{"schedules", "x"}, "unexpected argument"},
	}
	for _, c := range cases {
		r := cli(t, "http://127.0.0.1:1", c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("granary %v: exit %d, stderr %q; want exit 2 and one line saying %q", c.args, r.code, r.stderr, c.want)
		}
	}
	if r := cli(t, "", "--help"); r.code != exitOK || !strings.Contains(r.stdout, "granary submit") || r.stderr != "" {
		t.Errorf("--help: exit %d, stdout %q, stderr %q; want the help on stdout (it was asked for)", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, ""); r.code != exitUsage || !strings.Contains(r.stderr, "granary submit") || r.stdout != "" {
		t.Errorf("no command: exit %d, stdout %q; want the help on stderr and exit 2", r.code, r.stdout)
	}
}

// TestCLIAgainstNode drives the client commands against a real node.
func TestCLIAgainstNode(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts granary processes")
	}
	node := testnode.Dev(t)
	addr := "http://" + node.HTTP

	r := cli(t, addr, "submit", "--kind", "echo", "--payload", `{"a":1}`, "--id", "cli-1", "--wait", "--json")
	var list api.TaskList
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &list) != nil || list.Count != 1 || list.Tasks[0].State != api.StateCompleted {
		t.Fatalf("submit --wait --json: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	r = cli(t, addr, "status", "cli-1", "--json")
	var st map[string]any
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &st) != nil {
		t.Fatalf("status --json: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	for _, field := range []string{"id", "kind", "state", "attempts", "owner", "epoch", "result", "errors", "submitted_at", "finished_at"} {
		if _, ok := st[field]; !ok {
			t.Errorf("status JSON lacks %q: %s", field, r.stdout)
		}
	}
	if r := cli(t, addr, "status", "cli-1"); r.code != exitOK || !strings.Contains(r.stdout, "completed") {
		t.Errorf("status: exit %d, %s", r.code, r.stdout)
	}

	// A task that fails for good: exit 1 from wait, listed as a dead letter.
	r = cli(t, addr, "submit", "--kind", "flaky", "--payload", `{"fail_rate":1,"seed":1}`, "--max-attempts", "2", "--backoff-initial", "5ms", "--wait")
	if r.code != exitFailed || !strings.Contains(r.stdout, "failed") {
		t.Fatalf("submit --wait of a failing task: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	r = cli(t, addr, "tasks", "--state", "failed", "--json")
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &list) != nil || list.Count != 1 || len(list.Tasks[0].Errors) != 2 {
		t.Fatalf("tasks --state failed: exit %d, %s", r.code, r.stdout)
	}
	r = cli(t, addr, "tasks", "--counts", "--json")
	var counts api.TaskStats
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &counts) != nil || counts.Total != 2 || counts.ByKind["flaky"][api.StateFailed] != 1 || counts.ByKind["echo"][api.StateCompleted] != 1 {
		t.Fatalf("tasks --counts --json: exit %d, %s", r.code, r.stdout)
	}
	if r := cli(t, addr, "tasks", "--counts"); r.code != exitOK || !strings.Contains(r.stdout, "flaky") || !strings.Contains(r.stdout, "all") {
		t.Errorf("tasks --counts: exit %d, %s", r.code, r.stdout)
	}

	// Time-out: exit 3. Cancel: exit 0, then wait says cancelled (exit 1).
	r = cli(t, addr, "submit", "--kind", "sleep", "--payload-file", "-", "--id", "long")
	if r.code != exitOK || strings.TrimSpace(r.stdout) != "long" {
		t.Fatalf("submit --payload-file -: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	r = cli(t, addr, "submit", "--kind", "sleep", "--payload", `{"ms":600000}`, "--id", "forever")
	if r.code != exitOK {
		t.Fatalf("submit: exit %d %s", r.code, r.stderr)
	}
	if r := cli(t, addr, "wait", "forever", "--timeout", "200ms"); r.code != exitTimeout || !strings.Contains(r.stderr, "timed out") {
		t.Errorf("wait --timeout: exit %d, %q", r.code, r.stderr)
	}
	if r := cli(t, addr, "cancel", "forever"); r.code != exitOK || !strings.Contains(r.stdout, "cancelled") {
		t.Errorf("cancel: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, addr, "wait", "forever", "long"); r.code != exitFailed || !strings.Contains(r.stdout, "cancelled") {
		t.Errorf("wait on a cancelled and a completed task: exit %d, %s", r.code, r.stdout)
	}

	// A job: the failing task fails it, and one_for_all stops the other.
	cli(t, addr, "submit", "--kind", "sleep", "--payload", `{"ms":600000}`, "--id", "j-a", "--job", "j", "--job-strategy", "one_for_all")
	if r := cli(t, addr, "submit", "--kind", "flaky", "--payload", `{"fail_rate":1}`, "--max-attempts", "1", "--id", "j-b", "--job", "j", "--job-strategy", "one_for_all", "--wait"); r.code != exitFailed {
		t.Fatalf("the failing job task: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	cli(t, addr, "wait", "j-a", "--timeout", "20s")
	r = cli(t, addr, "job", "status", "j", "--json")
	var job api.JobStatus
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &job) != nil || job.State != api.StateFailed || job.Counts[api.StateCancelled] != 1 || !strings.Contains(job.Error, "j-b failed") {
		t.Fatalf("job status --json: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, addr, "job", "status", "nope"); r.code != exitFailed || !strings.Contains(r.stderr, "no job nope") {
		t.Errorf("job status of an unknown job: exit %d %s", r.code, r.stderr)
	}

	// A job with a restart budget: the hung task fails for good, the job
	// restarts it (attempt 2 succeeds) and restarts the other task too.
	cli(t, addr, "submit", "--kind", "sleep", "--payload", `{"ms":600000}`, "--id", "r-a", "--job", "r", "--job-strategy", "one_for_all", "--job-max-restarts", "1", "--job-restart-period", "1h")
	if r := cli(t, addr, "submit", "--kind", "hang", "--payload", `{"succeed_on_attempt":2}`, "--max-attempts", "1", "--attempt-timeout", "200ms",
		"--id", "r-b", "--job", "r", "--job-strategy", "one_for_all", "--job-max-restarts", "1", "--job-restart-period", "1h", "--wait"); r.code != exitOK {
		t.Fatalf("the job task the job restarts: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, addr, "job", "status", "r"); r.code != exitOK || !strings.Contains(r.stdout, "restarts: 1 (budget 1 in 1h0m0s)") || !strings.Contains(r.stdout, "after task r-b") {
		t.Errorf("job status after a restart: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, addr, "submit", "--kind", "echo", "--job", "r", "--job-strategy", "one_for_all", "--job-max-restarts", "2"); r.code != exitUsage || !strings.Contains(r.stderr, "restart budget of 1 in 1h0m0s") {
		t.Errorf("submit with another restart budget than the job's: exit %d %s", r.code, r.stderr)
	}
	if r := cli(t, addr, "submit", "--kind", "echo", "--job-max-restarts", "2"); r.code != exitUsage || !strings.Contains(r.stderr, "needs a job id") {
		t.Errorf("a restart budget without a job: exit %d %s", r.code, r.stderr)
	}
	if r := cli(t, addr, "restart", "r-a", "--json"); r.code != exitOK || !strings.Contains(r.stdout, `"job_restarts": 2`) {
		t.Errorf("restart: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, addr, "restart", "r-b"); r.code != exitFailed || !strings.Contains(r.stderr, "already completed") {
		t.Errorf("restart of a completed task: exit %d %s %s", r.code, r.stdout, r.stderr)
	}

	// The jobs list: r (restarted once, not failed) changed last, then j
	// (failed).
	r = cli(t, addr, "jobs", "--json")
	var jl api.JobList
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &jl) != nil || jl.Count != 2 || jl.Jobs[0].ID != "r" || jl.Jobs[0].Failed || jl.Jobs[0].Restarts != 1 ||
		jl.Jobs[1].ID != "j" || !jl.Jobs[1].Failed || !strings.Contains(jl.Jobs[1].Error, "j-b failed") {
		t.Errorf("jobs --json: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, addr, "jobs", "--limit", "1"); r.code != exitOK || !strings.Contains(r.stdout, "STRATEGY") || !strings.Contains(r.stdout, "1 of 2 jobs") || strings.Contains(r.stdout, "j-b failed") {
		t.Errorf("jobs --limit 1: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, addr, "jobs", "--limit", "0"); r.code != exitUsage || !strings.Contains(r.stderr, "want 1 to 1000") {
		t.Errorf("jobs --limit 0: exit %d %s", r.code, r.stderr)
	}

	// Grains on the single node: state kept per identity.
	cli(t, addr, "call", "--kind", "counter", "--id", "c1", "--payload", `{"op":"add","n":2}`)
	if r := cli(t, addr, "call", "--kind", "counter", "--id", "c1", "--payload", `{"op":"add","n":3}`); r.code != exitOK || !strings.Contains(r.stdout, `"value":5`) {
		t.Errorf("call counter: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, addr, "call", "--kind", "counter", "--id", "c1", "--payload", `{"op":"mul"}`); r.code != exitFailed || !strings.Contains(r.stderr, "unknown op") {
		t.Errorf("call with a request the grain rejects: exit %d, %s", r.code, r.stderr)
	}
	if r := cli(t, addr, "call", "--kind", "nope", "--id", "c1"); r.code != exitUsage {
		t.Errorf("call of an unknown kind: exit %d, %s", r.code, r.stderr)
	}

	// Bad input reaches the node: exit 2, clear message, nothing stored.
	before := cli(t, addr, "tasks", "--json")
	for _, args := range [][]string{
		{"submit", "--kind", "nope"},
		{"submit", "--kind", "sleep", "--payload", `{"ms":-1}`},
		{"submit", "--kind", "sleep", "--payload", `{"ms":1}`, "--max-attempts", "0"},
		{"submit", "--kind", "echo", "--payload", `1`, "--id", "cli-1"},
	} {
		if r := cli(t, addr, args...); r.code != exitUsage || r.stderr == "" {
			t.Errorf("granary %v: exit %d, %q; want exit 2 with a message", args, r.code, r.stderr)
		}
	}
	// The ids, not the records: a task of job r may still be finishing.
	if b, a := taskIDs(t, before.stdout), taskIDs(t, cli(t, addr, "tasks", "--json").stdout); !slices.Equal(b, a) {
		t.Errorf("bad input changed the task list:\nbefore %v\nafter  %v", b, a)
	}
}

// taskIDs lists the ids in the output of `granary tasks --json`, sorted.
func taskIDs(t *testing.T, out string) []string {
	t.Helper()
	var l struct {
		Tasks []struct {
			ID string `json:"id"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("tasks --json: %v\n%s", err, out)
	}
	ids := make([]string, 0, len(l.Tasks))
	for _, tk := range l.Tasks {
		ids = append(ids, tk.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestSubmitFrom: granary submit --from FILE checks every line first (a bad
// one submits nothing), then submits in batches, reports each line that
// the node refused, and is idempotent by the ids in the file.
func TestSubmitFrom(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts granary processes")
	}
	node := testnode.Dev(t)
	addr := "http://" + node.HTTP
	dir := t.TempDir()
	write := func(name string, lines ...string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	countTasks := func() int {
		t.Helper()
		r := cli(t, addr, "tasks", "--all", "--json")
		var list api.TaskList
		if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &list) != nil {
			t.Fatalf("tasks --json: exit %d %s %s", r.code, r.stdout, r.stderr)
		}
		return list.Count
	}

	bad := write("bad.jsonl", `{"kind":"echo","payload":1}`, `{"kind":"echo",`, `{"kind":"echo"}`)
	if r := cli(t, addr, "submit", "--from", bad); r.code != exitUsage || !strings.Contains(r.stderr, "line 2") || !strings.Contains(r.stderr, "nothing was submitted") {
		t.Errorf("a malformed line: exit %d, %q", r.code, r.stderr)
	}
	typo := write("typo.jsonl", `{"kind":"echo","paylod":1}`)
	if r := cli(t, addr, "submit", "--from", typo); r.code != exitUsage || !strings.Contains(r.stderr, `unknown field "paylod"`) {
		t.Errorf("an unknown field: exit %d, %q", r.code, r.stderr)
	}
	if r := cli(t, addr, "submit", "--from", bad, "--kind", "echo"); r.code != exitUsage || !strings.Contains(r.stderr, "--kind does not go with it") {
		t.Errorf("--from with --kind: exit %d, %q", r.code, r.stderr)
	}
	if r := cli(t, addr, "submit", "--from", filepath.Join(dir, "missing")); r.code != exitUsage || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("a missing file: exit %d, %q", r.code, r.stderr)
	}
	if n := countTasks(); n != 0 {
		t.Fatalf("%d tasks stored after bad input, want 0", n)
	}

	// 300 good tasks (two batches), one of an unknown kind, a blank line.
	lines := make([]string, 0, 302)
	for i := range 300 {
		lines = append(lines, fmt.Sprintf(`{"id":"f-%d","kind":"echo","payload":{"i":%d}}`, i, i))
	}
	lines = append(lines[:150], append([]string{"", `{"id":"f-bad","kind":"nope"}`}, lines[150:]...)...)
	good := write("good.jsonl", lines...)
	r := cli(t, addr, "submit", "--from", good, "--json")
	var out []fromResult
	if r.code != exitFailed || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out) != 301 || !strings.Contains(r.stderr, "1 of 301 tasks were not submitted") {
		t.Fatalf("submit --from with one refused line: exit %d, %d results, %.300s %s", r.code, len(out), r.stdout, r.stderr)
	}
	for _, fr := range out {
		switch {
		case fr.ID == "f-bad":
			if fr.Line != 152 || !strings.Contains(fr.Error, `unknown kind "nope"`) {
				t.Errorf("the refused line: %+v", fr)
			}
		case fr.Code != 201 || fr.Error != "" || fr.Task == nil || fr.Task.ID != fr.ID:
			t.Errorf("line %d: %+v", fr.Line, fr)
		}
	}
	if n := countTasks(); n != 300 {
		t.Errorf("%d tasks stored, want 300", n)
	}
	// Again, waiting: nothing new is created, and every task is completed.
	again := write("again.jsonl", lines[:10]...)
	if r := cli(t, addr, "submit", "--from", again, "--wait"); r.code != exitOK || strings.Count(r.stdout, "completed") != 10 {
		t.Errorf("submit --from again --wait: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, addr, "submit", "--from", again); r.code != exitOK || strings.Count(r.stdout, "already submitted") != 10 {
		t.Errorf("submit --from again: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	if n := countTasks(); n != 300 {
		t.Errorf("%d tasks stored after resubmitting, want 300", n)
	}
}

// stockKinds is the registry of the stock binary.
func stockKinds(t testing.TB) *actors.Registry {
	t.Helper()
	reg := actors.NewRegistry()
	if err := kinds.Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}
