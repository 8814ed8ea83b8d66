package chaos

import (
	"slices"
	"testing"
	"time"
)

// line is a task's log line on member m (run 1) at ms; jobLine a job
// supervisor's; restartLine a "job restart" line.
func line(m, msg, task string, attempt, ms int) Entry {
	return Entry{Member: m, Run: 1, Msg: msg, Task: task, Attempt: attempt, At: at(ms)}
}

func jobLine(m, msg, job, end string, ms int) Entry {
	return Entry{Member: m, Run: 1, Msg: msg, Job: job, End: end, At: at(ms)}
}

func restartLine(job, child string, childRound, round uint64, ms int) Entry {
	return Entry{Member: "n1", Run: 1, Msg: msgJobRestart, Job: job, Child: child, ChildRound: childRound, Round: round, At: at(ms)}
}

func TestAttemptsFromLogs(t *testing.T) {
	entries := []Entry{
		line("n1", msgAttemptStarted, "x", 1, 0),
		line("n1", msgAttemptFailed, "x", 1, 100),
		line("n1", msgAttemptStarted, "x", 2, 200),
		line("n1", msgTaskTerminated, "x", 2, 300),
		line("n2", msgAttemptStarted, "x", 3, 400),
		line("n2", msgAttemptFailed, "x", 2, 450), // another attempt's: ignored
		line("n3", msgAttemptStarted, "y", 1, 500),
	}
	got := Attempts(entries, map[string]time.Time{runKey("n3", 1): at(900)}, at(1000))
	want := []struct {
		task, member string
		n, from, to  int
	}{{"x", "n1", 1, 0, 100}, {"x", "n1", 2, 200, 300}, {"x", "n2", 3, 400, 1000}, {"y", "n3", 1, 500, 900}}
	if len(got) != len(want) {
		t.Fatalf("got %d attempts, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Task != w.task || g.Member != w.member || g.N != w.n || !g.From.Equal(at(w.from)) || !g.To.Equal(at(w.to)) {
			t.Errorf("attempt %d: got %s, want %+v", i, g, w)
		}
	}
}

func TestCheckOverlaps(t *testing.T) {
	pauseN1 := []Cut{{Member: "n1", Run: 1, Kind: Pause, From: at(50), To: at(3000)}}
	for _, tc := range []struct {
		name    string
		entries []Entry
		cuts    []Cut
		want    int
	}{
		{"one after the other", []Entry{line("n1", msgAttemptStarted, "x", 1, 0), line("n1", msgAttemptFailed, "x", 1, 100), line("n2", msgAttemptStarted, "x", 2, 200)}, nil, 0},
		{"two at once", []Entry{line("n1", msgAttemptStarted, "x", 1, 0), line("n2", msgAttemptStarted, "x", 2, 200), line("n1", msgAttemptFailed, "x", 1, 300)}, nil, 1},
		{"one on a paused member, fenced", []Entry{line("n1", msgAttemptStarted, "x", 1, 0), line("n2", msgAttemptStarted, "x", 2, 2000), line("n2", msgTaskFinished, "x", 2, 2500)}, pauseN1, 0},
		{"one on a paused member that committed", []Entry{line("n1", msgAttemptStarted, "x", 1, 0), line("n2", msgAttemptStarted, "x", 2, 2000), line("n1", msgTaskFinished, "x", 1, 3100)}, pauseN1, 1},
		{"paused, but another member", []Entry{line("n2", msgAttemptStarted, "x", 1, 0), line("n3", msgAttemptStarted, "x", 2, 2000), line("n2", msgAttemptFailed, "x", 1, 2100)}, pauseN1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckOverlaps(Attempts(tc.entries, nil, at(10000)), tc.cuts)
			if len(got) != tc.want || !slices.ContainsFunc(got, func(v Violation) bool { return v.Check == CheckTwoAttempts }) && tc.want > 0 {
				t.Fatalf("got %v, want %d violations", got, tc.want)
			}
		})
	}
}

func TestCheckEndedJobs(t *testing.T) {
	decls := map[string]JobDecl{"p": {}, "c": {Parent: "p"}}
	jobOf := map[string]string{"x": "c", "y": "p"}
	for _, tc := range []struct {
		name    string
		entries []Entry
		cuts    []Cut
		want    int
	}{
		{"ended after its children", []Entry{line("n1", msgAttemptStarted, "x", 1, 0), line("n1", msgTaskTerminated, "x", 1, 100), jobLine("n2", msgJobEnded, "p", "failed", 200)}, nil, 0},
		{"a grandchild task still ran", []Entry{line("n1", msgAttemptStarted, "x", 1, 0), jobLine("n2", msgJobEnded, "p", "failed", 200), line("n1", msgTaskTerminated, "x", 1, 300)}, nil, 1},
		{"a task started after the stop", []Entry{jobLine("n2", msgJobEnded, "p", "stopped", 200), line("n1", msgAttemptStarted, "y", 1, 300), line("n1", msgTaskFinished, "y", 1, 400)}, nil, 1},
		{"started after the job began again", []Entry{jobLine("n2", msgJobEnded, "c", "failed", 200), jobLine("n2", msgJobBegan, "c", "", 250), line("n1", msgAttemptStarted, "x", 1, 300), line("n1", msgTaskFinished, "x", 1, 400)}, nil, 0},
		{"a completed job is not over", []Entry{jobLine("n2", msgJobEnded, "p", "completed", 200), line("n1", msgAttemptStarted, "y", 1, 300), line("n1", msgTaskFinished, "y", 1, 400)}, nil, 0},
		{"abandoned on a paused member", []Entry{line("n1", msgAttemptStarted, "x", 1, 0), jobLine("n2", msgJobEnded, "p", "failed", 200)}, []Cut{{Member: "n1", Run: 1, From: at(50), To: at(5000)}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckEndedJobs(Attempts(tc.entries, nil, at(10000)), tc.entries, jobOf, decls, tc.cuts)
			if len(got) != tc.want {
				t.Fatalf("got %v, want %d violations", got, tc.want)
			}
		})
	}
}

// startedLine is a task's line of its job starting it again in round.
func startedLine(task string, round uint64, ms int) Entry {
	return Entry{Member: "n1", Run: 1, Msg: msgTaskRestarted, Task: task, Round: round, At: at(ms)}
}

func TestCheckRestartCounts(t *testing.T) {
	decls := map[string]JobDecl{"all": {Strategy: "one_for_all"}, "one": {Strategy: "one_for_one"}}
	jobOf := map[string]string{"a1": "all", "a2": "all", "o1": "one", "o2": "one"}
	for _, tc := range []struct {
		name    string
		entries []Entry
		finals  map[string]JobFinal
		want    int
	}{
		{"one restart per incident", []Entry{restartLine("all", "a1", 0, 1, 0), restartLine("all", "a2", 1, 2, 100)}, map[string]JobFinal{"all": {Restarts: 2}}, 0},
		{"a sibling's exit in the same incarnation restarted it again", []Entry{restartLine("all", "a1", 0, 1, 0), startedLine("a1", 1, 5), startedLine("a2", 1, 6), restartLine("all", "a2", 0, 2, 10)}, map[string]JobFinal{"all": {Restarts: 2}}, 1},
		{"a task that joined after a one_for_all restart is not replaced by it", []Entry{restartLine("all", "a1", 0, 1, 0), startedLine("a1", 1, 5), restartLine("all", "a2", 0, 2, 10)}, map[string]JobFinal{"all": {Restarts: 2}}, 0},
		{"one_for_one: a sibling's old incarnation is its own incident", []Entry{restartLine("one", "o1", 0, 1, 0), restartLine("one", "o2", 0, 2, 10)}, map[string]JobFinal{"one": {Restarts: 2}}, 0},
		{"one_for_one: the same incarnation twice", []Entry{restartLine("one", "o1", 0, 1, 0), startedLine("o1", 1, 5), restartLine("one", "o1", 0, 2, 10)}, map[string]JobFinal{"one": {Restarts: 2}}, 1},
		{"the record counts one more", []Entry{restartLine("one", "o1", 0, 1, 0)}, map[string]JobFinal{"one": {Restarts: 2}}, 1},
		{"the record counts one more, resumed by a new owner", []Entry{restartLine("one", "o1", 0, 1, 0), {Member: "n2", Run: 1, Msg: msgJobResumed, Job: "one", Round: 2, At: at(50)}}, map[string]JobFinal{"one": {Restarts: 2}}, 0},
		{"the record counts fewer", []Entry{restartLine("one", "o1", 0, 1, 0), restartLine("one", "o2", 0, 2, 10)}, map[string]JobFinal{"one": {Restarts: 1}}, 1},
		{"the line logged twice (one write)", []Entry{restartLine("one", "o1", 0, 1, 0), restartLine("one", "o1", 0, 1, 0)}, map[string]JobFinal{"one": {Restarts: 1}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckRestartCounts(tc.entries, tc.finals, decls, jobOf)
			if len(got) != tc.want {
				t.Fatalf("got %v, want %d violations", got, tc.want)
			}
		})
	}
}

func TestFenceCuts(t *testing.T) {
	entries := []Entry{
		{Member: "n1", Run: 1, Msg: msgSelfFenced, At: at(100)},
		{Member: "n1", Run: 1, Msg: msgLeaseRestored, At: at(900)},
		{Member: "n2", Run: 2, Msg: msgSelfFenced, At: at(500)},
	}
	cuts := FenceCuts(entries, map[string]time.Time{runKey("n2", 2): at(700)}, at(5000))
	if len(cuts) != 2 {
		t.Fatalf("cuts %+v, want 2", cuts)
	}
	// An attempt on n1 fenced meanwhile, overlapping one on n3, is no violation.
	overlap := []Entry{line("n1", msgAttemptStarted, "x", 1, 0), line("n3", msgAttemptStarted, "x", 2, 400), line("n3", msgTaskFinished, "x", 2, 600), line("n1", msgAttemptFailed, "x", 1, 1000)}
	if got := CheckOverlaps(Attempts(overlap, nil, at(5000)), cuts); len(got) != 0 {
		t.Fatalf("got %v; the attempt on the fenced member is excused", got)
	}
}
