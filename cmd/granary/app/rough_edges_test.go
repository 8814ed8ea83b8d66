package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testnode"
)

// singleDash finds a flag written -flag at the start of a help line.
var singleDash = regexp.MustCompile(`\n  -[a-z]`)

// TestHelpAndVersion: granary version and --version print the version,
// help CMD and CMD -h print the command's help with exit 0, and flags are
// written --flag, as the README writes them.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := cli(t, "", args...)
		if r.code != exitOK || !strings.HasPrefix(r.stdout, "granary ") || !strings.Contains(r.stdout, "go1.") {
			t.Errorf("granary %v: exit %d, %q %q", args, r.code, r.stdout, r.stderr)
		}
	}
	for _, args := range [][]string{{"help", "submit"}, {"submit", "-h"}, {"submit", "--help"}, {"help", "job"}, {"job", "-h"}, {"job", "status", "-h"}, {"help", "tasks"}} {
		r := cli(t, "", args...)
		// Help asked for goes to stdout: `granary help submit | less` shows it.
		if r.code != exitOK || r.stderr != "" || !strings.Contains(r.stdout, "Usage: granary "+args[len(args)-1]) && !strings.Contains(r.stdout, "Usage: granary "+args[0]) && !strings.Contains(r.stdout, "Usage: granary "+args[1]) {
			t.Errorf("granary %v: exit %d, stdout %q, stderr %q; want the help on stdout", args, r.code, r.stdout, r.stderr)
			continue
		}
		if singleDash.MatchString(r.stdout) || !strings.Contains(r.stdout, "\n  --") {
			t.Errorf("granary %v writes flags as -flag, not --flag:\n%s", args, r.stdout)
		}
	}
	if r := cli(t, "", "help", "submit"); !strings.Contains(r.stdout, "--max-attempts int") || !strings.Contains(r.stdout, `--addr string`) {
		t.Errorf("help submit:\n%s", r.stdout)
	}
	if r := cli(t, "", "help", "frobnicate"); r.code != exitUsage {
		t.Errorf("help of an unknown command: exit %d", r.code)
	}
}

// TestJSONLogsWriteDurationsAsText: --log-format json writes durations as
// "1.5s", not nanoseconds.
func TestJSONLogsWriteDurationsAsText(t *testing.T) {
	var buf bytes.Buffer
	e := &env{stderr: &buf}
	log, err := newLogger(e, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("waited", "took", 1500*time.Millisecond, slog.Group("g", "d", time.Minute), "n", 3)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["took"] != "1.5s" || m["g"].(map[string]any)["d"] != "1m0s" || m["n"] != 3.0 {
		t.Errorf("JSON log line: %s", buf.String())
	}
}

// TestSubmitToADownNodeSaysWhatItDoes: against a closed port, submit says
// it is retrying, where and until when, and --timeout bounds it.
func TestSubmitToADownNodeSaysWhatItDoes(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }, isTerminal: true, reg: stockKinds(t)}
	start := time.Now()
	code := run(e, []string{"submit", "--addr", addr, "--kind", "echo", "--payload", "1", "--timeout", "2500ms", "--json"})
	took := time.Since(start)
	if code != exitTimeout || took > 6*time.Second {
		t.Fatalf("exit %d after %s; want 3 (timed out) after about 2.5s: %s", code, took, errOut.String())
	}
	if !strings.Contains(errOut.String(), "retrying (try 1) until") || !strings.Contains(errOut.String(), l.Addr().String()) ||
		!strings.Contains(errOut.String(), "connection refused") || out.Len() != 0 {
		t.Errorf("stderr says:\n%s\nstdout: %q; want what it retries, where and until when", errOut.String(), out.String())
	}
	if n := strings.Count(errOut.String(), "retrying"); n > 4 {
		t.Errorf("%d retry notices in 2.5s; want at most one a second", n)
	}
	// Without --timeout it gives up when the client's retry window ends,
	// and says when that is.
	if until := regexp.MustCompile(`until \d\d:\d\d:\d\d, (\d+)s left`).FindStringSubmatch(errOut.String()); until == nil || atoi(until[1]) > 3 {
		t.Errorf("the notice does not say until when (within the 2.5s --timeout): %s", errOut.String())
	}
}

// TestRoughEdgesOnDev: what a new user tries first on granary dev.
func TestRoughEdgesOnDev(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts granary processes")
	}
	node := testnode.Dev(t)
	addr := "http://" + node.HTTP

	// A grain whose request type is empty, called without --payload.
	r := cli(t, addr, "call", "--kind", "whoami", "--id", "x")
	if r.code != exitOK || !strings.Contains(r.stdout, `"identity":"x"`) {
		t.Errorf("call whoami without --payload: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}

	// A cluster of one.
	r = cli(t, addr, "members")
	if r.code != exitOK || !strings.Contains(r.stdout, "dev") || !strings.Contains(r.stdout, "1 member\n") || !strings.Contains(r.stdout, "VERSION") {
		t.Errorf("members: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	r = cli(t, addr, "members", "--json")
	var ml api.MemberList
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &ml) != nil || ml.Count != 1 || ml.Members[0].ID != "dev" || !ml.Members[0].Healthy || !strings.HasPrefix(ml.Members[0].Version, "granary ") {
		t.Errorf("members --json: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}

	// The kinds the node hosts, with their defaults.
	r = cli(t, addr, "kinds")
	if r.code != exitOK || !strings.Contains(r.stdout, "max-attempts=") || !strings.Contains(r.stdout, "singleton") || !strings.Contains(r.stdout, "whoami") {
		t.Errorf("kinds: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	r = cli(t, addr, "kinds", "--json")
	var kl api.KindList
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &kl) != nil || kl.Count == 0 || kl.Kinds[0].Type != api.KindTask || kl.Kinds[0].Defaults == nil {
		t.Errorf("kinds --json: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}

	// Listing: newest first, a page at a time, filtered.
	for i := range 12 {
		args := []string{"submit", "--kind", "echo", "--payload", "1", "--id", fmt.Sprintf("l%02d", i)}
		if i%3 == 0 {
			args = append(args, "--label", "team=a", "--job", "lj")
		}
		if r := cli(t, addr, args...); r.code != exitOK {
			t.Fatalf("submit: exit %d %s", r.code, r.stderr)
		}
	}
	listed := func(args ...string) (api.TaskList, string) {
		t.Helper()
		r := cli(t, addr, append([]string{"tasks", "--json"}, args...)...)
		var l api.TaskList
		if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &l) != nil {
			t.Fatalf("tasks %v: exit %d %s %s", args, r.code, r.stdout, r.stderr)
		}
		var ids []string
		for _, st := range l.Tasks {
			ids = append(ids, st.ID)
		}
		return l, strings.Join(ids, " ")
	}
	page, ids := listed("--limit", "5")
	if ids != "l11 l10 l09 l08 l07" || page.Next == "" {
		t.Errorf("tasks --limit 5: %s, next %q", ids, page.Next)
	}
	if _, ids := listed("--limit", "5", "--cursor", page.Next); ids != "l06 l05 l04 l03 l02" {
		t.Errorf("tasks --cursor: %s", ids)
	}
	if l, _ := listed("--limit", "5", "--all", "--kind", "echo"); l.Count != 12 || l.Next != "" {
		t.Errorf("tasks --all: %d tasks, next %q", l.Count, l.Next)
	}
	if _, ids := listed("--label", "team=a"); ids != "l09 l06 l03 l00" {
		t.Errorf("tasks --label team=a: %s", ids)
	}
	if _, ids := listed("--job", "lj", "--limit", "2"); ids != "l09 l06" {
		t.Errorf("tasks --job lj --limit 2: %s", ids)
	}
	if r := cli(t, addr, "tasks", "--limit", "2"); r.code != exitOK || !strings.Contains(r.stdout, "--cursor ") {
		t.Errorf("tasks --limit 2 does not say how to see more: %s", r.stdout)
	}
	if r := cli(t, addr, "tasks", "--limit", "1001"); r.code != exitUsage {
		t.Errorf("tasks --limit 1001: exit %d", r.code)
	}

	// The node's JSON logs write durations as text.
	var took []any
	for _, e := range node.LogEntries(0, "http") {
		took = append(took, e["took"])
	}
	if len(took) == 0 {
		t.Fatal("no http log lines")
	}
	for _, v := range took {
		if _, ok := v.(string); !ok {
			t.Fatalf("the node logged took=%v (%T); want a duration such as \"1.5ms\"", v, v)
		}
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
