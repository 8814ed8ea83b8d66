package app

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testnode"
)

// TestRetryAndStatusAgainstNode: `status` shows a task's checkpoint and
// payload; a dead letter is not restarted (restart keeps its meaning) but
// retried, by filter with --dry-run first, then by id, and its status
// counts the retry.
func TestRetryAndStatusAgainstNode(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts granary processes")
	}
	node := testnode.Dev(t)
	addr := "http://" + node.HTTP

	if r := cli(t, addr, "submit", "--kind", "steps", "--payload", `{"steps":3}`, "--id", "st-1", "--wait"); r.code != exitOK {
		t.Fatalf("submit steps: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	r := cli(t, addr, "status", "st-1")
	if r.code != exitOK || !strings.Contains(r.stdout, "checkpoint:") || !strings.Contains(r.stdout, "1 bytes, saved") || !strings.Contains(r.stdout, `{"steps":3}`) {
		t.Fatalf("status: exit %d\n%s", r.code, r.stdout)
	}
	var st api.Status
	if r := cli(t, addr, "status", "st-1", "--json"); json.Unmarshal([]byte(r.stdout), &st) != nil || compact(st.Payload) != `{"steps":3}` || st.CheckpointBytes != 1 || st.CheckpointAt == nil {
		t.Fatalf("status --json: %s", r.stdout)
	}

	if r := cli(t, addr, "submit", "--kind", "flaky", "--payload", `{"fail_rate":1}`, "--max-attempts", "1", "--id", "dead", "--wait"); r.code != exitFailed {
		t.Fatalf("submit of a failing task: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, addr, "restart", "dead"); r.code != exitFailed || !strings.Contains(r.stderr, "already failed") {
		t.Fatalf("restart of a failed task: exit %d %s", r.code, r.stderr)
	}
	if r := cli(t, addr, "retry", "--kind", "flaky", "--failed-since", "1h", "--dry-run"); r.code != exitOK || !strings.Contains(r.stdout, "1 tasks would be sent round again (dry run)") {
		t.Fatalf("retry --dry-run: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, addr, "retry", "dead"); r.code != exitOK || !strings.Contains(r.stdout, "dead sent round again (retries: 1") {
		t.Fatalf("retry: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, addr, "wait", "dead"); r.code != exitFailed {
		t.Fatalf("wait after the retry: exit %d %s", r.code, r.stdout)
	}
	if r := cli(t, addr, "status", "dead", "--json"); json.Unmarshal([]byte(r.stdout), &st) != nil || st.Retries != 1 || st.Attempts != 2 || len(st.Errors) != 2 {
		t.Fatalf("status after the retry: %s", r.stdout)
	}
	for _, args := range [][]string{{"retry"}, {"retry", "a", "b"}, {"retry", "dead", "--kind", "flaky"}, {"retry", "--kind", "flaky", "--state", "running"}, {"retry", "--kind", "x", "--failed-since", "soon"}} {
		if r := cli(t, addr, args...); r.code != exitUsage {
			t.Errorf("granary %v: exit %d %s; want a usage error", args, r.code, r.stderr)
		}
	}
}

// compact is a JSON value without its indentation.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
