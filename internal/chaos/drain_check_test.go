package chaos

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCheckDrains: the logs of a graceful stop of n1 (run 1, SIGTERM at
// 1000ms, exit at 3000ms) during which task "a" (attempt 1, started on n1
// at 500ms) ran on.
func TestCheckDrains(t *testing.T) {
	stop := Stop{Member: "n1", Run: 1, Term: at(1000), Exit: at(3000)}
	started := Entry{Member: "n1", Run: 1, Msg: msgAttemptStarted, Task: "a", Attempt: 1, At: at(500)}
	drained := Entry{Member: "n1", Run: 1, Msg: msgTaskFinished, Task: "a", Attempt: 1, State: stateCompleted, At: at(2000)}
	lost := Entry{Member: "n2", Run: 1, Msg: msgAttemptFailed, Task: "a", Attempt: 1, Cause: causeMemberLost, At: at(3100)}
	rerun := Entry{Member: "n2", Run: 1, Msg: msgAttemptStarted, Task: "a", Attempt: 2, At: at(3100)}
	twice := Entry{Member: "n2", Run: 1, Msg: msgAttemptStarted, Task: "a", Attempt: 1, At: at(1500)}
	for _, tc := range []struct {
		name       string
		stop       Stop
		entries    []Entry
		handedOff  map[string]bool
		violations int
		drained    int
	}{
		{"drained and committed once", stop, []Entry{started, drained}, nil, 0, 1},
		// Issue 19: the member fenced itself while draining; a survivor
		// counted its attempt lost and ran the task again.
		{"lost and run again", stop, []Entry{started, lost, rerun}, nil, 1, 0},
		{"lost after a drain time-out: handed off", stop, []Entry{started, lost, rerun}, map[string]bool{runKey("n1", 1): true}, 0, 0},
		{"committed while draining, but also started elsewhere", stop, []Entry{started, twice, drained}, nil, 1, 1},
		{"committed while draining, then run again", stop, []Entry{started, drained, rerun}, nil, 1, 1},
		{"committed before SIGTERM: not drained", stop, []Entry{started, {Member: "n1", Run: 1, Msg: msgTaskFinished, Task: "a", Attempt: 1, State: stateCompleted, At: at(900)}}, nil, 0, 0},
		{"lost to an earlier fault", stop, []Entry{started, {Member: "n2", Run: 1, Msg: msgAttemptFailed, Task: "a", Attempt: 1, Cause: causeMemberLost, At: at(800)}, rerun}, nil, 0, 0},
		// A Consul restart invalidated n1's session before the SIGTERM:
		// its attempts were lost to the fence, and the survivor rightly
		// ran them again. A fence after SIGTERM is the drain's doing.
		{"fenced before SIGTERM", stop, []Entry{started, fence(900), lost, rerun}, nil, 0, 0},
		{"fenced before SIGTERM, restored before it", stop, []Entry{started, fence(700), restored(900), lost, rerun}, nil, 1, 0},
		{"fenced while draining", stop, []Entry{started, fence(1100), lost, rerun}, nil, 1, 0},
		{"fenced in another run", stop, []Entry{started, {Member: "n1", Run: 2, Msg: msgSelfFenced, At: at(900)}, lost, rerun}, nil, 1, 0},
		{"another run of the member", Stop{Member: "n1", Run: 2, Term: at(1000), Exit: at(3000)}, []Entry{started, lost, rerun}, nil, 0, 0},
		{"did not exit in time", Stop{Member: "n1", Run: 1, Term: at(1000), Exit: at(20000), TimedOut: true, Code: -1}, nil, nil, 1, 0},
		{"exited non-zero", Stop{Member: "n1", Run: 1, Term: at(1000), Exit: at(3000), Code: 1}, nil, nil, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs, n := CheckDrains([]Stop{tc.stop}, tc.entries, tc.handedOff)
			if len(vs) != tc.violations || n != tc.drained {
				t.Errorf("got %d violations %v and %d drained commits; want %d and %d", len(vs), vs, n, tc.violations, tc.drained)
			}
			for _, v := range vs {
				if v.Check != CheckDrain {
					t.Errorf("violation of check %s, want %s", v.Check, CheckDrain)
				}
			}
		})
	}
}

func fence(ms int) Entry    { return Entry{Member: "n1", Run: 1, Msg: msgSelfFenced, At: at(ms)} }
func restored(ms int) Entry { return Entry{Member: "n1", Run: 1, Msg: msgLeaseRestored, At: at(ms)} }

// TestDrainCheckReadsTheNodesWords: check 6 reads the node's log lines by
// their text; a reworded line would turn a part of it off silently.
func TestDrainCheckReadsTheNodesWords(t *testing.T) {
	src := ""
	var files []string
	for _, dir := range []string{"../../cluster/node", "../../cluster/tasks"} {
		fs, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(fs) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		files = append(files, fs...)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src += string(b)
	}
	for _, msg := range []string{msgSelfFenced, msgLeaseRestored} {
		if !strings.Contains(src, strconv.Quote(msg)) {
			t.Errorf("no node source logs %q: check 6 reads that line", msg)
		}
	}
}
