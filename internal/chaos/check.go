package chaos

import (
	"fmt"
	"sort"
	"strings"

	"github.com/granary-rt/granary/cluster/api"
)

// The checks, by the names violations carry.
const (
	CheckLost         = "lost"            // an acknowledged task missing or unfinished after the drain
	CheckCommitChange = "commit-changed"  // two terminal reads of a task disagree
	CheckBackInTime   = "back-in-time"    // a member answered an older revision, or unfinished after finished
	CheckTwoActive    = "two-activations" // an identity answered by a replaced activation
	CheckCounter      = "counter"         // an activation's counter went backwards or repeated
	CheckDoubleCommit = "double-commit"   // a task finished twice in the node logs
	CheckSettle       = "settle"          // the cluster did not recover from a fault
)

// Violation is one broken guarantee with the history that shows it.
type Violation struct {
	Check    string
	Evidence string
}

func (v Violation) String() string { return v.Check + ": " + v.Evidence }

// Final is what the drain found for one acknowledged task: its last read,
// or why there is none.
type Final struct {
	Last *Read
	Err  string // the last error of the drain's reads (not found, unavailable)
}

// CheckLostTasks is check 1: every acknowledged task exists and ended.
func CheckLostTasks(acked []string, finals map[string]Final, h *History) []Violation {
	var out []Violation
	for _, id := range acked {
		f := finals[id]
		if f.Last != nil && api.IsTerminal(f.Last.State) {
			continue
		}
		var ev strings.Builder
		if f.Last == nil {
			fmt.Fprintf(&ev, "task %s was acknowledged but never read at the end (last error: %s)", id, f.Err)
		} else {
			fmt.Fprintf(&ev, "task %s was acknowledged but is still %s after the drain (last read: %s)", id, f.Last.State, f.Last)
		}
		for _, s := range h.SubmitsOf(id) {
			fmt.Fprintf(&ev, "\n    submit via %s sent %s answered %s err=%q", s.Via, stamp(s.Sent), stamp(s.Answered), s.Err)
		}
		reads := h.ReadsOf(id)
		for _, r := range reads[max(0, len(reads)-5):] {
			fmt.Fprintf(&ev, "\n    %s", r)
		}
		out = append(out, Violation{CheckLost, ev.String()})
	}
	return out
}

// CheckCommits is check 2: once a read returned a task terminal, every
// later terminal read returns the same commit (state, result, error,
// attempts and finishing time).
func CheckCommits(reads []Read) []Violation {
	first := map[string]Read{}
	var out []Violation
	for _, r := range byAnswered(reads) {
		if !api.IsTerminal(r.State) {
			continue
		}
		f, seen := first[r.Task]
		if !seen {
			first[r.Task] = r
			continue
		}
		if r.commit() != f.commit() {
			out = append(out, Violation{CheckCommitChange, fmt.Sprintf("task %s read terminal twice with different commits:\n    first: %s\n    later: %s", r.Task, f, r)})
		}
	}
	return out
}

// CheckReadsForward is check 3: through one member, a read sent after
// another read of the same task was answered never returns an older
// revision, nor an unfinished state after a finished one.
func CheckReadsForward(reads []Read) []Violation {
	groups := map[string][]Read{}
	for _, r := range reads {
		k := r.Task + "\x00" + r.Via
		groups[k] = append(groups[k], r)
	}
	var out []Violation
	for _, g := range groups {
		out = append(out, readsForward(g)...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Evidence < out[j].Evidence })
	return out
}

// readsForward checks one task's reads through one member: each read
// against the newest revision, and the first terminal read, answered
// before it was sent.
func readsForward(g []Read) []Violation {
	answered := byAnswered(g)
	sent := append([]Read(nil), g...)
	sort.SliceStable(sent, func(i, j int) bool { return sent[i].Sent.Before(sent[j].Sent) })
	var out []Violation
	var newest, terminal *Read
	i := 0
	for _, b := range sent {
		for ; i < len(answered) && answered[i].Answered.Before(b.Sent); i++ {
			a := &answered[i]
			if newest == nil || a.Revision > newest.Revision {
				newest = a
			}
			if terminal == nil && api.IsTerminal(a.State) {
				terminal = a
			}
		}
		switch {
		case newest != nil && b.Revision < newest.Revision:
			out = append(out, Violation{CheckBackInTime, fmt.Sprintf("task %s through %s: revision %d read after %d had been read:\n    earlier: %s\n    later:   %s", b.Task, b.Via, b.Revision, newest.Revision, newest, b)})
		case terminal != nil && !api.IsTerminal(b.State):
			out = append(out, Violation{CheckBackInTime, fmt.Sprintf("task %s through %s: %s read after %s had been read:\n    earlier: %s\n    later:   %s", b.Task, b.Via, b.State, terminal.State, terminal, b)})
		}
	}
	return out
}

// CheckCounters is part of check 4 for the counter grain, whose every call
// adds 1: within one activation, a call sent after another was answered
// reads a greater value, and no two calls read the same value.
func CheckCounters(answers []CounterAnswer) []Violation {
	groups := map[string][]CounterAnswer{}
	for _, a := range answers {
		k := a.Identity + "\x00" + a.Activation
		groups[k] = append(groups[k], a)
	}
	var out []Violation
	for _, g := range groups {
		seen := map[int64]CounterAnswer{}
		for _, a := range g {
			if b, dup := seen[a.Value]; dup {
				out = append(out, Violation{CheckCounter, fmt.Sprintf("two increments read the same value:\n    %s\n    %s", b, a)})
			}
			seen[a.Value] = a
		}
		answered := append([]CounterAnswer(nil), g...)
		sort.SliceStable(answered, func(i, j int) bool { return answered[i].Answered.Before(answered[j].Answered) })
		sent := append([]CounterAnswer(nil), g...)
		sort.SliceStable(sent, func(i, j int) bool { return sent[i].Sent.Before(sent[j].Sent) })
		var top *CounterAnswer
		i := 0
		for _, b := range sent {
			for ; i < len(answered) && answered[i].Answered.Before(b.Sent); i++ {
				if top == nil || answered[i].Value > top.Value {
					top = &answered[i]
				}
			}
			if top != nil && b.Value <= top.Value {
				out = append(out, Violation{CheckCounter, fmt.Sprintf("an increment sent after another was answered read a value not above it:\n    earlier: %s\n    later:   %s", top, b)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Evidence < out[j].Evidence })
	return out
}

// CheckCommitLogs is check 5: commits maps a task to the members whose
// logs say they finished it; each task finishes at most once.
func CheckCommitLogs(commits map[string][]string) []Violation {
	var out []Violation
	for id, by := range commits {
		if len(by) > 1 {
			out = append(out, Violation{CheckDoubleCommit, fmt.Sprintf("task %s finished %d times, by %s", id, len(by), strings.Join(by, ", "))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Evidence < out[j].Evidence })
	return out
}

func byAnswered(reads []Read) []Read {
	out := append([]Read(nil), reads...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Answered.Before(out[j].Answered) })
	return out
}
