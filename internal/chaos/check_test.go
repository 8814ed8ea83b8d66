package chaos

import (
	"slices"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// read is a read of task "a" through via, sent at sent and answered 10ms later.
func read(via string, sent int, state string, rev uint64, result string) Read {
	r := Read{Task: "a", Op: "get", Via: via, Run: 1, Sent: at(sent), Answered: at(sent + 10), State: state, Revision: rev, Result: result}
	if api.IsTerminal(state) {
		r.FinishedAt, r.Attempts = "t1", 1
	}
	return r
}

func checks(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Check)
	}
	return out
}

func TestCheckReadsForward(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reads []Read
		want  int
	}{
		{"forward", []Read{read("n1", 0, "running", 5, ""), read("n1", 20, "completed", 7, "1")}, 0},
		{"older revision", []Read{read("n1", 0, "running", 5, ""), read("n1", 20, "running", 4, "")}, 1},
		{"unfinished after finished", []Read{read("n1", 0, "completed", 7, "1"), read("n1", 20, "running", 7, "")}, 1},
		{"other member may lag", []Read{read("n1", 0, "completed", 7, "1"), read("n2", 20, "running", 5, "")}, 0},
		// Overlapping reads may be answered in either order.
		{"overlapping", []Read{read("n1", 0, "running", 7, ""), read("n1", 5, "running", 5, "")}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckReadsForward(tc.reads); len(got) != tc.want {
				t.Errorf("%d violations %v, want %d", len(got), got, tc.want)
			}
		})
	}
}

func TestCheckCommits(t *testing.T) {
	same := []Read{read("n1", 0, "completed", 7, `{"attempt":1}`), read("n2", 20, "completed", 9, `{"attempt":1}`)}
	if got := CheckCommits(same); len(got) != 0 {
		t.Errorf("the same commit read twice: %v", got)
	}
	changed := []Read{read("n1", 0, "completed", 7, `{"attempt":1}`), read("n2", 20, "completed", 9, `{"attempt":2}`)}
	if got := checks(CheckCommits(changed)); !slices.Equal(got, []string{CheckCommitChange}) {
		t.Errorf("a changed result: %v", got)
	}
	state := []Read{read("n1", 0, "failed", 7, ""), read("n1", 20, "completed", 9, `{"attempt":2}`)}
	if got := checks(CheckCommits(state)); !slices.Equal(got, []string{CheckCommitChange}) {
		t.Errorf("a changed state: %v", got)
	}
}

func TestCheckCounters(t *testing.T) {
	c := func(act string, sent int, v int64) CounterAnswer {
		return CounterAnswer{Identity: "c", Activation: act, Sent: at(sent), Answered: at(sent + 10), Value: v}
	}
	for _, tc := range []struct {
		name    string
		answers []CounterAnswer
		want    int
	}{
		{"increasing", []CounterAnswer{c("x", 0, 1), c("x", 20, 2), c("y", 40, 1)}, 0},
		{"overlapping out of order", []CounterAnswer{c("x", 0, 2), c("x", 5, 1)}, 0},
		{"backwards", []CounterAnswer{c("x", 0, 2), c("x", 20, 1)}, 1},
		{"repeated", []CounterAnswer{c("x", 0, 1), c("x", 5, 1)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckCounters(tc.answers); len(got) != tc.want {
				t.Errorf("%d violations %v, want %d", len(got), got, tc.want)
			}
		})
	}
}

func TestCheckLostTasks(t *testing.T) {
	h := NewHistory()
	for _, id := range []string{"done", "stuck", "gone"} {
		h.AddSubmit(Submit{Task: id, Via: "n1", Sent: at(0), Answered: at(5)})
	}
	done, stuck := read("n1", 100, "completed", 3, "1"), read("n1", 100, "retrying", 2, "")
	finals := map[string]Final{"done": {Last: &done}, "stuck": {Last: &stuck}, "gone": {Err: "not found"}}
	if got := CheckLostTasks(h.Acked(), finals, h); len(got) != 2 {
		t.Errorf("%d violations %v, want stuck and gone", len(got), got)
	}
}

func TestCheckCommitLogs(t *testing.T) {
	got := CheckCommitLogs(map[string][]string{"a": {"n1"}, "b": {"n1", "n2"}})
	if len(got) != 1 || got[0].Check != CheckDoubleCommit {
		t.Errorf("%v, want b's double commit", got)
	}
}

func TestScheduleReplays(t *testing.T) {
	req := map[FaultKind]int{Kill: 2, Pause: 1, RestartConsul: 1}
	a, b := NewSchedule(42, 3, req), NewSchedule(42, 3, req)
	counts := map[FaultKind]int{}
	for range 4 {
		fa, fb := a.Next(), b.Next()
		if fa != fb {
			t.Fatalf("the same seed drew %v and %v", fa, fb)
		}
		counts[fa.Kind]++
	}
	for k, n := range req {
		if counts[k] != n {
			t.Errorf("%d %s faults first, want %d", counts[k], k, n)
		}
	}
	if a.RequiredLeft() != 0 {
		t.Errorf("%d required faults left", a.RequiredLeft())
	}
}
