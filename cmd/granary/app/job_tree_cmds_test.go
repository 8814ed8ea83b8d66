package app

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testnode"
)

// TestJobHelp: `granary job -h` names every subcommand with its
// arguments, a subcommand's -h its flags, and `granary job` alone is a
// usage error with the same help. (Their usage errors are in
// TestUsageErrors.)
func TestJobHelp(t *testing.T) {
	r := cli(t, "", "job", "-h")
	for _, want := range []string{"job create " + jobCreateArgs, "job stop " + jobStopArgs, "job tree " + jobTreeArgs, "job status JOB"} {
		if r.code != exitOK || !strings.Contains(r.stdout, want) {
			t.Errorf("granary job -h: exit %d, lacks %q:\n%s", r.code, want, r.stdout)
		}
	}
	if r := cli(t, "", "job", "create", "-h"); r.code != exitOK || !strings.Contains(r.stdout, "--auto-shutdown") || !strings.Contains(r.stdout, "brutal_kill") {
		t.Errorf("granary job create -h: exit %d:\n%s", r.code, r.stdout)
	}
	if r := cli(t, "", "job"); r.code != exitUsage || !strings.Contains(r.stderr, "Subcommands:") {
		t.Errorf("granary job: exit %d:\n%s", r.code, r.stderr)
	}
}

// TestJobTreeOnDev declares a nested tree on `granary dev` through the CLI,
// puts tasks in it with restart types, draws it (text and JSON), and stops
// it as a whole.
func TestJobTreeOnDev(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a granary process")
	}
	node := testnode.Dev(t)
	addr := "http://" + node.HTTP
	must := func(args ...string) result {
		t.Helper()
		r := cli(t, addr, args...)
		if r.code != exitOK {
			t.Fatalf("granary %v: exit %d: %s %s", args, r.code, r.stdout, r.stderr)
		}
		return r
	}
	must("job", "create", "app", "--strategy", "one_for_all", "--max-restarts", "2", "--period", "1m")
	must("job", "create", "db", "--parent", "app", "--stage", "0", "--significant")
	must("job", "create", "web", "--parent", "app", "--stage", "1", "--restart", "permanent", "--shutdown", "brutal_kill")
	r := must("job", "create", "cache", "--parent", "web", "--auto-shutdown", "any_significant")
	if !strings.Contains(r.stdout, "child of web (stage 0, transient) at depth 2") {
		t.Errorf("job create cache said %q; want its place in the tree", r.stdout)
	}
	must("submit", "--kind", "sleep", "--payload", `{"ms":600000}`, "--id", "c1", "--job", "cache", "--restart", "temporary", "--significant")
	must("submit", "--kind", "sleep", "--payload", `{"ms":600000}`, "--id", "d1", "--job", "db", "--stage", "0")
	must("job", "create", "app", "--strategy", "one_for_all", "--max-restarts", "2", "--period", "1m") // the same again: fine

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"job", "create", "app", "--strategy", "one_for_one"}, "strategy: one_for_all, not one_for_one"},
		{[]string{"job", "create", "orphan", "--parent", "missing"}, "does not exist"},
		{[]string{"job", "create", "x", "--restart", "sometimes", "--parent", "app"}, "restart type"},
		{[]string{"submit", "--kind", "echo", "--payload", "{}", "--restart", "temporary"}, "needs a job id"},
	} {
		if r := cli(t, addr, c.args...); r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("granary %v: exit %d %s; want exit 2 saying %q", c.args, r.code, r.stderr, c.want)
		}
	}

	r = must("job", "tree", "app")
	want := []string{
		"job app (root)  running  budget 0/2 in 1m0s  restarts 0  one_for_all",
		"├─ job db [stage 0, transient, significant]  running",
		"│  └─ task d1 [stage 0, transient] sleep  running",
		"└─ job web [stage 1, permanent]  running",
		"   └─ job cache [stage 0, transient]  running  budget 0/0 in the job's life  restarts 0  one_for_one, auto_shutdown any_significant",
		"      └─ task c1 [stage 0, temporary, significant] sleep  running",
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(want) {
		t.Fatalf("job tree:\n%s\nwant %d lines", r.stdout, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("job tree line %d: %q, want it to start %q", i, lines[i], w)
		}
	}
	var tree api.JobTree
	if r := must("job", "tree", "app", "--json"); json.Unmarshal([]byte(r.stdout), &tree) != nil || tree.Jobs != 4 || tree.Tasks != 2 ||
		tree.Root.Jobs[1].Jobs[0].Depth != 2 || *tree.Root.Jobs[1].Shutdown != 0 {
		t.Fatalf("job tree --json: %s", r.stdout)
	}

	r = must("job", "stop", "app", "--reason", "maintenance", "--wait")
	if !strings.Contains(r.stdout, "job app stopped: all 4 jobs and 2 tasks have ended") {
		t.Errorf("job stop --wait: %q", r.stdout)
	}
	if r := must("job", "tree", "app", "--json"); json.Unmarshal([]byte(r.stdout), &tree) != nil || !tree.Finished() ||
		tree.Root.Jobs[1].Jobs[0].Tasks[0].State != api.StateCancelled || !strings.Contains(tree.Root.Error, "maintenance") {
		t.Fatalf("the tree after the stop: %s", r.stdout)
	}
	if r := must("job", "stop", "app", "--json"); json.Unmarshal([]byte(r.stdout), &tree) != nil || !tree.Finished() {
		t.Fatalf("stopping a stopped job again: %s", r.stdout)
	}
	if r := must("job", "status", "cache"); !strings.Contains(r.stdout, "declared: shutdown 5s, auto_shutdown any_significant, child of web") {
		t.Errorf("job status cache: %s", r.stdout)
	}
}
