package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/faulttest"
)

// Read is one task status a member answered, whatever the call (a submit's
// answer, a get, a job's listing, the final drain).
type Read struct {
	Task string
	Op   string // submit, get, job, drain
	Via  string // the member the call was sent to
	// Run is the member's process run when the call was sent (1 for its
	// first start, 2 after its first restart, ...).
	Run            int
	Sent, Answered time.Time
	State          string
	Revision       uint64
	Result         string // compact JSON, or the base64 text of a non-JSON result
	Error          string
	Attempts       int
	FinishedAt     string
	Owner          string
	Epoch          uint64
}

// commit is what a terminal read says was committed: any two terminal
// reads of one task must agree on all of it.
func (r Read) commit() string {
	return fmt.Sprintf("state=%s attempts=%d finished_at=%s result=%s error=%q", r.State, r.Attempts, r.FinishedAt, r.Result, r.Error)
}

func (r Read) String() string {
	return fmt.Sprintf("%s %s via %s (run %d) sent %s answered %s: %s rev=%d owner=%s epoch=%d attempts=%d finished_at=%s result=%s error=%q",
		r.Op, r.Task, r.Via, r.Run, stamp(r.Sent), stamp(r.Answered), r.State, r.Revision, r.Owner, r.Epoch, r.Attempts, r.FinishedAt, r.Result, r.Error)
}

// Submit is one try of one submit.
type Submit struct {
	Task, Kind, Job string
	Via             string
	Sent, Answered  time.Time
	Err             string // "" when the submit was acknowledged
}

// CounterAnswer is one acknowledged "add 1" to a counter grain.
type CounterAnswer struct {
	Identity, Member, Activation string
	Sent, Answered               time.Time
	Value                        int64
}

func (c CounterAnswer) String() string {
	return fmt.Sprintf("counter %s = %d from %s/%s (sent %s, answered %s)", c.Identity, c.Value, c.Member, c.Activation, stamp(c.Sent), stamp(c.Answered))
}

// History records every operation of a campaign, from many goroutines.
type History struct {
	// Calls is every grain call (whoami and counter), for
	// faulttest.History.StaleAnswers.
	Calls faulttest.History

	mu       sync.Mutex
	reads    []Read
	submits  []Submit
	acked    map[string]bool // task -> its submit was acknowledged
	order    []string        // tasks in the order of their first submit
	jobs     map[string]bool
	counters []CounterAnswer
	// trees holds the declared jobs (nested jobs: tree_workload.go): each
	// one's parent ("" for a root) and strategy.
	trees map[string]JobDecl
	// stopped are the jobs a stop was sent to, with whether it was answered.
	stopped map[string]bool
}

// JobDecl is a job the campaign declared or made through its tasks.
type JobDecl struct {
	Parent, Strategy string
}

// NewHistory returns an empty history.
func NewHistory() *History {
	return &History{acked: map[string]bool{}, jobs: map[string]bool{}, trees: map[string]JobDecl{}, stopped: map[string]bool{}}
}

// AddRead records a status answered by via, and returns the record.
func (h *History) AddRead(op, via string, run int, sent, answered time.Time, st *api.Status) Read {
	r := Read{
		Task: st.ID, Op: op, Via: via, Run: run, Sent: sent, Answered: answered,
		State: st.State, Revision: st.Revision, Error: st.Error, Attempts: st.Attempts,
		Owner: st.Owner, Epoch: st.Epoch, Result: compact(st.Result),
	}
	if r.Result == "" {
		r.Result = st.ResultBase64
	}
	if st.FinishedAt != nil {
		r.FinishedAt = st.FinishedAt.UTC().Format(time.RFC3339Nano)
	}
	h.mu.Lock()
	h.reads = append(h.reads, r)
	h.mu.Unlock()
	return r
}

// AddSubmit records one try of a submit.
func (h *History) AddSubmit(s Submit) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, seen := h.acked[s.Task]; !seen {
		h.order = append(h.order, s.Task)
		h.acked[s.Task] = false
	}
	if s.Err == "" {
		h.acked[s.Task] = true
	}
	if s.Job != "" {
		h.jobs[s.Job] = true
	}
	h.submits = append(h.submits, s)
}

// AddJob records a job declared with parent ("" for a root job) and
// strategy, or made by its first task.
func (h *History) AddJob(id, parent, strategy string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.jobs[id] = true
	if _, ok := h.trees[id]; !ok || parent != "" {
		h.trees[id] = JobDecl{Parent: parent, Strategy: strategy}
	}
}

// AddStop records a stop sent to job; answered: a member answered it.
func (h *History) AddStop(job string, answered bool) {
	h.mu.Lock()
	h.stopped[job] = h.stopped[job] || answered
	h.mu.Unlock()
}

// JobDecls returns every job recorded with AddJob.
func (h *History) JobDecls() map[string]JobDecl {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.trees)
}

// Stops returns the jobs a stop was sent to.
func (h *History) Stops() map[string]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.stopped)
}

// JobOf maps every task submitted in a job to its job.
func (h *History) JobOf() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]string{}
	for _, s := range h.submits {
		if s.Job != "" {
			out[s.Task] = s.Job
		}
	}
	return out
}

// AddCounter records an acknowledged counter increment.
func (h *History) AddCounter(c CounterAnswer) {
	h.mu.Lock()
	h.counters = append(h.counters, c)
	h.mu.Unlock()
}

// Reads returns a copy of every read, in the order recorded.
func (h *History) Reads() []Read {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Read(nil), h.reads...)
}

// Counters returns a copy of every counter answer.
func (h *History) Counters() []CounterAnswer {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]CounterAnswer(nil), h.counters...)
}

// Acked returns the tasks whose submit was acknowledged, in submit order.
func (h *History) Acked() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, id := range h.order {
		if h.acked[id] {
			out = append(out, id)
		}
	}
	return out
}

// Unacked returns the tasks no submit try of which was acknowledged.
func (h *History) Unacked() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, id := range h.order {
		if !h.acked[id] {
			out = append(out, id)
		}
	}
	return out
}

// Jobs returns the ids of the jobs submitted, sorted.
func (h *History) Jobs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.jobs))
	for j := range h.jobs {
		out = append(out, j)
	}
	sort.Strings(out)
	return out
}

// SubmitsOf returns every submit try of task.
func (h *History) SubmitsOf(task string) []Submit {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Submit
	for _, s := range h.submits {
		if s.Task == task {
			out = append(out, s)
		}
	}
	return out
}

// ReadsOf returns every read of task, in the order recorded.
func (h *History) ReadsOf(task string) []Read {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Read
	for _, r := range h.reads {
		if r.Task == task {
			out = append(out, r)
		}
	}
	return out
}

func compact(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

func stamp(t time.Time) string { return t.Format("15:04:05.000") }
