package app

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/granary-rt/granary/internal/testnode"
)

// TestWaitShowsProgressMoving: on a terminal, `granary wait` and `submit
// --wait` show a running task's progress as it moves (it used to stay at
// the first figure: the wait long-polled revisions, and progress changes
// none).
func TestWaitShowsProgressMoving(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a granary process")
	}
	node := testnode.Dev(t)
	addr := "http://" + node.HTTP
	percents := regexp.MustCompile(`· (\d+)% slept`)
	for _, args := range [][]string{
		{"submit", "--addr", addr, "--kind", "sleep", "--payload", `{"ms":3000}`, "--wait"},
		{"wait", "--addr", addr, "slow-1"},
	} {
		if args[0] == "wait" {
			if r := cli(t, addr, "submit", "--id", "slow-1", "--kind", "sleep", "--payload", `{"ms":3000}`); r.code != exitOK {
				t.Fatalf("submit: exit %d: %s", r.code, r.stderr)
			}
		}
		var out, errOut bytes.Buffer
		e := &env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }, isTerminal: true, reg: stockKinds(t)}
		if code := run(e, args); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut.String())
		}
		seen := map[string]bool{}
		for _, m := range percents.FindAllStringSubmatch(errOut.String(), -1) {
			seen[m[1]] = true
		}
		// A 3s sleep shown every 200ms: several figures, not one.
		if len(seen) < 3 {
			t.Errorf("%v showed progress %v; want it to move:\n%q", args, seen, errOut.String())
		}
	}
}
