package chaos

import (
	"fmt"
	"sort"
	"time"
)

// The checks of nested jobs and attempts (7 to 9 in doc.go), by the names
// their violations carry.
const (
	// CheckTwoAttempts: a task had two attempts running at once, neither
	// of them on a member that was paused or cut off with its commit
	// fenced; or such a fenced attempt committed after all.
	CheckTwoAttempts = "two-attempts"
	// CheckEndedJob: a child of a stopped or failed job (a task of it or
	// of a job below it) still ran or started after the job's end was
	// recorded, before the job began again.
	CheckEndedJob = "child-of-ended-job"
	// CheckRestarts: a job restarted twice for one incident (an exit of a
	// child's incarnation that a restart had already replaced), or the
	// restarts its record counts differ from those its supervisors logged.
	CheckRestarts = "restart-count"
)

// The log lines checks 7 to 9 read, besides those of check 6 (the job
// supervisor's lines are those of cluster/tasks/job_log.go).
const (
	msgTaskRestarted  = "task restarted by its job"
	msgTaskTerminated = "task terminated for its job"
	msgJobEnded       = "job ended"
	msgJobRestart     = "job restart"
	msgJobResumed     = "job supervisor resumed"
	msgJobBegan       = "job began again"
)

// Cut is a pause or partition of a member's process run: while it lasted
// and until it noticed, the member could still run attempts whose tasks
// survivors had taken over; their commits are fenced.
type Cut struct {
	Member   string
	Run      int
	Kind     FaultKind
	From, To time.Time
}

// Attempt is one attempt of a task on one member's process run, as the
// member's log shows it: from its start to the first line that ends it
// (its failure, the task's finish, a restart or terminate by the job, the
// next attempt) or the end of the run.
type Attempt struct {
	Task      string
	Member    string
	Run       int
	N         int
	From, To  time.Time
	EndedBy   string
	Committed bool // the task finished with this attempt: its outcome was written
}

func (a Attempt) String() string {
	return fmt.Sprintf("%s attempt %d on %s (run %d) from %s to %s (%s, committed %v)", a.Task, a.N, a.Member, a.Run, stamp(a.From), stamp(a.To), a.EndedBy, a.Committed)
}

// Attempts rebuilds every attempt from the members' log entries; runEnds
// holds when ended runs ended (runKey), and a run not there lasts until
// open.
func Attempts(entries []Entry, runEnds map[string]time.Time, open time.Time) []Attempt {
	sorted := append([]Entry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At.Before(sorted[j].At) })
	type key struct {
		member string
		run    int
		task   string
	}
	running := map[key]*Attempt{}
	var out []Attempt
	end := func(k key, at time.Time, by string, committed bool) {
		if a := running[k]; a != nil {
			a.To, a.EndedBy, a.Committed = at, by, committed
			out = append(out, *a)
			delete(running, k)
		}
	}
	for _, e := range sorted {
		if e.Task == "" {
			continue
		}
		k := key{e.Member, e.Run, e.Task}
		switch e.Msg {
		case msgAttemptStarted:
			end(k, e.At, "next attempt", false)
			running[k] = &Attempt{Task: e.Task, Member: e.Member, Run: e.Run, N: e.Attempt, From: e.At}
		case msgAttemptFailed:
			if a := running[k]; a != nil && a.N == e.Attempt {
				end(k, e.At, "failed ("+e.Cause+")", false)
			}
		case msgTaskFinished:
			end(k, e.At, "finished "+e.State, true)
		case msgTaskRestarted, msgTaskTerminated:
			end(k, e.At, e.Msg, false)
		}
	}
	for k, a := range running {
		at, ok := runEnds[runKey(k.member, k.run)]
		if !ok {
			at = open
		}
		a.To, a.EndedBy = at, "end of run"
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].From.Before(out[j].From) })
	return out
}

// FenceCuts are the spans each member run spent fenced by its own doing,
// from its "self-fenced" line to its next "lease restored" (or the end of
// the run): a Consul restart that invalidated its session, a lease it
// could not renew. Like a pause or a partition, they cut it off: its
// claims pass to survivors and its commits are fenced.
func FenceCuts(entries []Entry, runEnds map[string]time.Time, open time.Time) []Cut {
	sorted := append([]Entry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At.Before(sorted[j].At) })
	fencedSince := map[string]*Cut{}
	var out []Cut
	for _, e := range sorted {
		k := runKey(e.Member, e.Run)
		switch {
		case e.Msg == msgSelfFenced && fencedSince[k] == nil:
			fencedSince[k] = &Cut{Member: e.Member, Run: e.Run, Kind: PartitionConsul, From: e.At}
		case e.Msg == msgLeaseRestored && fencedSince[k] != nil:
			c := fencedSince[k]
			c.To = e.At
			out = append(out, *c)
			delete(fencedSince, k)
		}
	}
	for k, c := range fencedSince {
		c.To = open
		if at, ok := runEnds[k]; ok {
			c.To = at
		}
		out = append(out, *c)
	}
	return out
}

// fenced reports whether a ran on a member run that was paused or cut off
// while it ran, and did not commit: survivors could take its task over.
func fenced(a Attempt, cuts []Cut) bool {
	if a.Committed {
		return false
	}
	for _, c := range cuts {
		if c.Member == a.Member && c.Run == a.Run && c.From.Before(a.To) && a.From.Before(c.To) {
			return true
		}
	}
	return false
}

// cutDuring reports whether a ran on a member run that was paused or cut
// off while it ran.
func cutDuring(a Attempt, cuts []Cut) bool {
	a.Committed = false
	return fenced(a, cuts)
}

// CheckOverlaps is check 7: no task has two attempts running at once,
// except one on a member run that was paused or cut off while it ran and
// whose commit was fenced (it did not finish the task); such an attempt
// that did commit is a violation too.
func CheckOverlaps(attempts []Attempt, cuts []Cut) []Violation {
	byTask := map[string][]Attempt{}
	for _, a := range attempts {
		byTask[a.Task] = append(byTask[a.Task], a)
	}
	var out []Violation
	for _, as := range byTask {
		for i, x := range as {
			for _, y := range as[i+1:] {
				if !y.From.Before(x.To) || !x.From.Before(y.To) {
					continue
				}
				switch {
				case fenced(x, cuts) || fenced(y, cuts):
				case cutDuring(x, cuts) || cutDuring(y, cuts):
					out = append(out, Violation{CheckTwoAttempts, fmt.Sprintf("task %s: an attempt on a paused or cut-off member committed while another ran:\n    %s\n    %s", x.Task, x, y)})
				default:
					out = append(out, Violation{CheckTwoAttempts, fmt.Sprintf("task %s ran two attempts at once:\n    %s\n    %s", x.Task, x, y)})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Evidence < out[j].Evidence })
	return out
}

// deadSpan is a time a job was over: from its recorded end (failed or
// stopped) to the first line that shows it running again (zero To: never).
type deadSpan struct {
	job, end string
	member   string
	From, To time.Time
}

// deadSpans finds the spans each job was over, from the job supervisors'
// log lines.
func deadSpans(entries []Entry) map[string][]deadSpan {
	sorted := append([]Entry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At.Before(sorted[j].At) })
	out := map[string][]deadSpan{}
	for _, e := range sorted {
		if e.Job == "" || e.Task != "" {
			continue
		}
		spans := out[e.Job]
		open := len(spans) > 0 && spans[len(spans)-1].To.IsZero()
		switch e.Msg {
		case msgJobEnded:
			if (e.End == "failed" || e.End == "stopped") && !open {
				out[e.Job] = append(spans, deadSpan{job: e.Job, end: e.End, member: e.Member, From: e.At})
			}
		case msgJobBegan, msgJobResumed, msgJobRestart:
			if open {
				spans[len(spans)-1].To = e.At
			}
		}
	}
	return out
}

// CheckEndedJobs is check 8: no attempt of a task of a job, or of a job
// below it, runs at or starts after the job's recorded end (failed or
// stopped) until the job runs again, unless it ran on a member that was
// paused or cut off and did not commit (abandoned, its commit fenced).
// jobOf maps tasks to their job, decls jobs to their parent.
func CheckEndedJobs(attempts []Attempt, entries []Entry, jobOf map[string]string, decls map[string]JobDecl, cuts []Cut) []Violation {
	spans := deadSpans(entries)
	var out []Violation
	for _, a := range attempts {
		seen := map[string]bool{}
		for job := jobOf[a.Task]; job != "" && !seen[job]; job = decls[job].Parent {
			seen[job] = true
			for _, s := range spans[job] {
				ranInto := a.From.Before(s.From) && s.From.Before(a.To)
				startedIn := !a.From.Before(s.From) && (s.To.IsZero() || a.From.Before(s.To))
				if (!ranInto && !startedIn) || fenced(a, cuts) {
					continue
				}
				what := "was still running when"
				if startedIn {
					what = "started after"
				}
				until := "it never ran again"
				if !s.To.IsZero() {
					until = "it ran again at " + stamp(s.To)
				}
				out = append(out, Violation{CheckEndedJob, fmt.Sprintf("%s %s job %s ended %s (recorded by %s at %s; %s)", a, what, job, s.end, s.member, stamp(s.From), until)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Evidence < out[j].Evidence })
	return out
}

// JobFinal is what the drain read of a job at the end: how many restarts
// its record counts (-1: not read).
type JobFinal struct {
	Restarts int
}

// maxRestartLog is how many restarts a job's record keeps (tasks: keep).
const maxRestartLog = 100

// CheckRestartCounts is check 9: every restart is counted once. Each
// restart a job's supervisors logged names the incident that caused it
// (the child and the round of the incarnation that exited); an incarnation
// that an earlier restart had already replaced never causes another. A
// task child was replaced when its job started it again in a later round
// (its "task restarted by its job" line, which names the round); a child
// job, by a restart for its own exit or, under one_for_all, for any
// child's. (A task that joined its job after a one_for_all restart was not
// replaced by it: its first incarnation is of round 0.) And the restarts a job's record counts at
// the end are those logged, give or take those whose line was lost with a
// member killed between the write and the line (a later owner resumed
// them: "job supervisor resumed").
func CheckRestartCounts(entries []Entry, finals map[string]JobFinal, decls map[string]JobDecl, jobOf map[string]string) []Violation {
	children := map[string][]string{}
	for task, job := range jobOf {
		children[job] = append(children[job], task)
	}
	for job, d := range decls {
		if d.Parent != "" {
			children[d.Parent] = append(children[d.Parent], job)
		}
	}
	restarts := map[string]map[uint64]Entry{} // job -> round -> line
	resumed := map[string]map[uint64]bool{}
	startedIn := map[string][]Entry{} // task -> its job's starts of it
	for _, e := range entries {
		switch {
		case e.Msg == msgTaskRestarted && e.Task != "" && e.Round > 0:
			startedIn[e.Task] = append(startedIn[e.Task], e)
		case e.Msg == msgJobRestart && e.Task == "":
			if restarts[e.Job] == nil {
				restarts[e.Job] = map[uint64]Entry{}
			}
			restarts[e.Job][e.Round] = e
		case e.Msg == msgJobResumed:
			if resumed[e.Job] == nil {
				resumed[e.Job] = map[uint64]bool{}
			}
			resumed[e.Job][e.Round] = true
		}
	}
	var out []Violation
	for job, byRound := range restarts {
		rounds := make([]uint64, 0, len(byRound))
		for r := range byRound {
			rounds = append(rounds, r)
		}
		sort.Slice(rounds, func(i, j int) bool { return rounds[i] < rounds[j] })
		replaced := map[string]Entry{} // child job -> the restart that started it again
		for _, r := range rounds {
			e := byRound[r]
			if _, isJob := decls[e.Child]; !isJob {
				for _, s := range startedIn[e.Child] {
					if e.ChildRound < s.Round && s.Round < r {
						out = append(out, Violation{CheckRestarts, fmt.Sprintf("job %s restarted (round %d, by %s at %s) for the exit of task %s's incarnation of round %d, which its start in round %d (on %s at %s) had already replaced",
							job, r, e.Member, stamp(e.At), e.Child, e.ChildRound, s.Round, s.Member, stamp(s.At))})
						break
					}
				}
				continue
			}
			if prev, ok := replaced[e.Child]; ok && e.ChildRound < prev.Round {
				out = append(out, Violation{CheckRestarts, fmt.Sprintf("job %s restarted (round %d, by %s at %s) for the exit of %s's incarnation of round %d, which its restart of round %d (by %s at %s) had already replaced",
					job, r, e.Member, stamp(e.At), e.Child, e.ChildRound, prev.Round, prev.Member, stamp(prev.At))})
			}
			replaced[e.Child] = e
			if decls[job].Strategy == "one_for_all" {
				for _, c := range children[job] {
					replaced[c] = e
				}
			}
		}
	}
	for job, f := range finals {
		if f.Restarts < 0 || f.Restarts >= maxRestartLog {
			continue
		}
		logged := len(restarts[job])
		unlogged := 0
		for r := range resumed[job] {
			if _, ok := restarts[job][r]; !ok {
				unlogged++
			}
		}
		if f.Restarts < logged || f.Restarts > logged+unlogged {
			out = append(out, Violation{CheckRestarts, fmt.Sprintf("job %s: its record counts %d restarts; its supervisors logged %d (and resumed %d operations whose line may have been lost)", job, f.Restarts, logged, unlogged)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Evidence < out[j].Evidence })
	return out
}
