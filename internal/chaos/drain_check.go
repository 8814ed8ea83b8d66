package chaos

import (
	"fmt"
	"sort"
	"time"
)

// CheckDrain names the violations of check 6: a graceful stop (SIGTERM)
// made an attempt run twice, or the member did not exit in time.
const CheckDrain = "drain"

// Stop is one graceful stop of a member: its process run r got SIGTERM at
// Term and exited at Exit with Code.
type Stop struct {
	Member   string
	Run      int
	Term     time.Time
	Exit     time.Time
	Code     int
	TimedOut bool // the process did not exit within its drain_timeout and slack, and was killed
}

// Entry is one task event from a member's log, in its process run.
type Entry struct {
	Member  string
	Run     int
	Msg     string // "attempt started", "attempt failed" or "task finished"
	Task    string
	Attempt int    // the attempt started or failed; the attempt count when finished
	Cause   string // of a failed attempt (member_lost for one lost with its member)
	State   string // of a finished task (TASK_STATE_COMPLETED, ...)
	At      time.Time
	// Job is the job of a job supervisor's line (job ended, job restart,
	// ...); End how it ended; Child, ChildRound and Round name a restart's
	// incident and its own round (checks 8 and 9).
	Job        string
	End        string
	Child      string
	ChildRound uint64
	Round      uint64
}

// The log messages check 6 reads.
const (
	msgAttemptStarted = "attempt started"
	msgAttemptFailed  = "attempt failed"
	msgTaskFinished   = "task finished"
	msgDrainTimedOut  = "drain time-out: handing off the attempts still running; they run again on a survivor"
	msgSelfFenced     = "self-fenced: lease or session with Consul lost; stopping every grain and task"
	msgLeaseRestored  = "lease restored; taking activations and tasks again"
	causeMemberLost   = "member_lost"
	stateCompleted    = "TASK_STATE_COMPLETED"
)

// CheckDrains is check 6: a drained attempt never runs twice. For each
// graceful stop of member M in run r:
//
//   - M exited, with code 0, within its drain time-out (and slack);
//   - a task M committed while draining (between SIGTERM and exit) was
//     committed by an attempt started exactly once, on M in run r, and no
//     later attempt of it started anywhere;
//   - unless M's drain timed out (handedOff holds M and r), no attempt
//     that M started in run r was counted lost with M (member_lost) after
//     the SIGTERM and run again: the drain let it finish instead — unless
//     M was fenced when SIGTERM came (it had logged self-fenced, and not
//     lease restored, in run r before Term: a Consul restart invalidated
//     its session, say), so its attempts were lost to the fence, not to the
//     drain. A fence after SIGTERM is the drain's doing and still counts.
func CheckDrains(stops []Stop, entries []Entry, handedOff map[string]bool) (out []Violation, drainedCommits int) {
	type attemptKey struct {
		task    string
		attempt int
	}
	started := map[attemptKey][]Entry{}
	lost := map[attemptKey][]Entry{}
	latest := map[string]int{} // task -> highest attempt started anywhere
	for _, e := range entries {
		k := attemptKey{e.Task, e.Attempt}
		switch {
		case e.Msg == msgAttemptStarted:
			started[k] = append(started[k], e)
			latest[e.Task] = max(latest[e.Task], e.Attempt)
		case e.Msg == msgAttemptFailed && e.Cause == causeMemberLost:
			lost[k] = append(lost[k], e)
		}
	}
	for _, s := range stops {
		fenced := fencedAt(entries, s.Member, s.Run, s.Term)
		where := fmt.Sprintf("%s (run %d, SIGTERM at %s, exit at %s)", s.Member, s.Run, stamp(s.Term), stamp(s.Exit))
		if s.TimedOut || s.Code != 0 {
			out = append(out, Violation{CheckDrain, fmt.Sprintf("graceful stop of %s: exited with %d, timed out %v", where, s.Code, s.TimedOut)})
		}
		for _, e := range entries {
			if e.Member != s.Member || e.Run != s.Run {
				continue
			}
			switch {
			case e.Msg == msgTaskFinished && e.State == stateCompleted && !e.At.Before(s.Term):
				drainedCommits++
				k := attemptKey{e.Task, e.Attempt}
				if runs := started[k]; len(runs) != 1 || runs[0].Member != s.Member || runs[0].Run != s.Run || latest[e.Task] > e.Attempt {
					out = append(out, Violation{CheckDrain, fmt.Sprintf("task %s committed by %s while draining, after attempt %d, which started %s; latest attempt started anywhere: %d",
						e.Task, where, e.Attempt, describeStarts(runs), latest[e.Task])})
				}
			case e.Msg == msgAttemptStarted && e.At.Before(s.Term) && !handedOff[runKey(s.Member, s.Run)] && !fenced:
				for _, f := range lost[attemptKey{e.Task, e.Attempt}] {
					if f.At.Before(s.Term) {
						continue // lost to an earlier fault (a pause, a partition), not to the drain
					}
					out = append(out, Violation{CheckDrain, fmt.Sprintf("task %s attempt %d started on %s before SIGTERM; its drain did not time out, yet %s (run %d) counted the attempt lost at %s and ran the task again",
						e.Task, e.Attempt, where, f.Member, f.Run, stamp(f.At))})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Evidence < out[j].Evidence })
	return out, drainedCommits
}

// fencedAt tells whether member's process run was fenced at t: its last
// self-fenced or lease restored entry before t is a fence.
func fencedAt(entries []Entry, member string, run int, t time.Time) bool {
	var last Entry
	for _, e := range entries {
		if e.Member != member || e.Run != run || !e.At.Before(t) || (e.Msg != msgSelfFenced && e.Msg != msgLeaseRestored) {
			continue
		}
		if last.At.IsZero() || e.At.After(last.At) {
			last = e
		}
	}
	return last.Msg == msgSelfFenced
}

// runKey names a member's process run.
func runKey(member string, run int) string { return fmt.Sprintf("%s/%d", member, run) }

func describeStarts(es []Entry) string {
	if len(es) == 0 {
		return "nowhere"
	}
	s := ""
	for i, e := range es {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("on %s (run %d) at %s", e.Member, e.Run, stamp(e.At))
	}
	return s
}
