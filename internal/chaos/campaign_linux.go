package chaos

import (
	"cmp"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Config is one campaign.
type Config struct {
	// Seed drives the fault schedule and the workload's draws; the same
	// seed replays the same schedule.
	Seed uint64
	// Duration is how long faults go on at least; they go on longer until
	// the Required ones have all happened.
	Duration time.Duration
	// Required is how many faults of each kind happen at least.
	Required map[FaultKind]int
	// Members is the cluster's size: at least three, so that with one
	// member down a quorum of members serves.
	Members int
	// MaxTasks bounds the tasks submitted.
	MaxTasks int
	// Settle bounds how long the cluster may take to recover from a fault
	// (every member seeing every member healthy); longer is a violation.
	Settle time.Duration
	// Drain bounds how long, after the last fault, every acknowledged task
	// may take to end.
	Drain time.Duration
	// Replay is the command line that replays this campaign, printed with
	// the seed.
	Replay string
	// Topology is how Consul runs: one server, or a quorum of three with
	// an agent per member ("": SingleServer).
	Topology Topology
}

// Result is what a campaign did and found.
type Result struct {
	Config   Config
	Elapsed  time.Duration // faults, from the first to the cluster settled after the last
	Faults   map[FaultKind]int
	Tasks    int // acknowledged submits
	Unacked  int // tasks no submit of which was acknowledged
	Jobs     int
	Reads    int
	Calls    int
	Counters int
	// Adopted counts the tasks that ended under a later claim than their
	// first (epoch above 1): the faults moved them between members.
	Adopted int
	// CallsFailed counts the grain calls that failed (after the client's
	// retries): the faults reached the callers.
	CallsFailed int
	// Reactivated counts the grain identities answered by more than one
	// activation: the faults moved them.
	Reactivated int
	// LoggedCommits counts the "task finished" log entries check 5 counts.
	LoggedCommits int
	// DrainedCommits counts the tasks committed by a member while it
	// drained after SIGTERM (check 6).
	DrainedCommits int
	// Attempts counts the attempts checks 7 and 8 rebuilt from the logs;
	// ChildJobs the jobs declared under another; JobStops the jobs the
	// workload stopped; JobRestarts, JobsFailed and JobsStopped the
	// restarts and ends the job supervisors logged (checks 8 and 9).
	Attempts, ChildJobs, JobStops, JobRestarts, JobsFailed, JobsStopped int

	Violations []Violation
}

// Summary is the campaign's one-line summary.
func (r Result) Summary() string {
	return fmt.Sprintf("chaos: seed=%d topology=%s duration=%s tasks=%d unacked=%d adopted=%d logged_commits=%d drained_commits=%d attempts=%d jobs=%d child_jobs=%d job_stops=%d job_restarts=%d jobs_failed=%d jobs_stopped=%d reads=%d calls=%d calls_failed=%d reactivated=%d counter_adds=%d kills=%d graceful_stops=%d pauses=%d partitions=%d (consul %d, peers %d) consul_restarts=%d violations=%d",
		r.Config.Seed, cmp.Or(r.Config.Topology, SingleServer), r.Elapsed.Round(time.Second), r.Tasks, r.Unacked, r.Adopted, r.LoggedCommits, r.DrainedCommits,
		r.Attempts, r.Jobs, r.ChildJobs, r.JobStops, r.JobRestarts, r.JobsFailed, r.JobsStopped, r.Reads, r.Calls, r.CallsFailed, r.Reactivated, r.Counters,
		r.Faults[Kill], r.Faults[GracefulStop], r.Faults[Pause], r.Faults[PartitionConsul]+r.Faults[PartitionPeers], r.Faults[PartitionConsul], r.Faults[PartitionPeers],
		r.Faults[RestartConsul], len(r.Violations))
}

// Run runs a campaign: it starts the cluster and the workload, injects
// faults one at a time from the seed's schedule, letting the cluster
// settle after each, stops the workload, drains every task, and checks
// the history.
func Run(t *testing.T, cfg Config) Result {
	t.Helper()
	t.Logf("chaos: seed=%d (replay: %s)", cfg.Seed, cfg.Replay)
	c := StartCluster(t, cfg.Members, cfg.Topology)
	h := NewHistory()
	w := StartWorkload(c, h, cfg.Seed, cfg.MaxTasks)
	stopped := false
	defer func() {
		if !stopped {
			w.Stop()
		}
	}()

	res := Result{Config: cfg, Faults: map[FaultKind]int{}}
	sched := NewSchedule(cfg.Seed, cfg.Members, cfg.Required)
	began := time.Now()
	for i := 1; sched.RequiredLeft() > 0 || time.Since(began) < cfg.Duration; i++ {
		f := sched.Next()
		t.Logf("chaos: fault %d at %s: %s", i, time.Since(began).Round(time.Millisecond), f)
		c.Inject(t, f)
		res.Faults[f.Kind]++
		settleBegan := time.Now()
		if why := c.waitSettled(cfg.Settle); why != "" {
			res.Violations = append(res.Violations, Violation{CheckSettle, fmt.Sprintf("after fault %d (%s) the cluster did not settle within %v: %s", i, f, cfg.Settle, why)})
			break
		}
		t.Logf("chaos: fault %d settled in %s", i, time.Since(settleBegan).Round(time.Millisecond))
		time.Sleep(f.Rest) // the schedule's rest between faults
	}
	res.Elapsed = time.Since(began)
	w.Stop()
	stopped = true
	if why := c.waitSettled(cfg.Settle); why != "" {
		res.Violations = append(res.Violations, Violation{CheckSettle, "after the last fault: " + why})
	}
	if e := w.HarnessError(); e != "" {
		t.Fatalf("chaos: the harness sent something wrong: %s", e)
	}

	drainBegan := time.Now()
	finals := w.Drain(time.Now().Add(cfg.Drain))
	t.Logf("chaos: drained %d tasks in %s", len(finals), time.Since(drainBegan).Round(time.Millisecond))

	acked := h.Acked()
	for i, id := range h.Unacked() {
		if i == 5 {
			break
		}
		// Not a violation (the caller was told nothing), but worth seeing.
		for _, s := range h.SubmitsOf(id) {
			t.Logf("chaos: unacknowledged %s: submit via %s sent %s answered %s: %s", id, s.Via, stamp(s.Sent), stamp(s.Answered), s.Err)
		}
	}
	res.Tasks, res.Unacked, res.Jobs = len(acked), len(h.Unacked()), len(h.Jobs())
	reads := h.Reads()
	res.Reads, res.Calls, res.Counters = len(reads), w.Calls(), len(h.Counters())
	for _, f := range finals {
		if f.Last != nil && f.Last.Epoch > 1 {
			res.Adopted++
		}
	}
	activations := map[string]map[string]bool{}
	for _, a := range h.Calls.Answers() {
		if a.Err != "" {
			res.CallsFailed++
			continue
		}
		if activations[a.Identity] == nil {
			activations[a.Identity] = map[string]bool{}
		}
		activations[a.Identity][a.Activation] = true
	}
	for _, acts := range activations {
		if len(acts) > 1 {
			res.Reactivated++
		}
	}
	res.Violations = append(res.Violations, CheckLostTasks(acked, finals, h)...)
	res.Violations = append(res.Violations, CheckCommits(reads)...)
	res.Violations = append(res.Violations, CheckReadsForward(reads)...)
	for _, s := range h.Calls.StaleAnswers() {
		res.Violations = append(res.Violations, Violation{CheckTwoActive, s.String()})
	}
	res.Violations = append(res.Violations, CheckCounters(h.Counters())...)
	commits := c.CommitLogs(t)
	for _, by := range commits {
		res.LoggedCommits += len(by)
	}
	if res.LoggedCommits == 0 && res.Tasks > 0 {
		// Check 5 would pass without looking at anything.
		t.Fatalf("chaos: no member logged a \"task finished\" entry for %d tasks: did the message or the log level change?", res.Tasks)
	}
	res.Violations = append(res.Violations, CheckCommitLogs(commits)...)
	entries, handedOff := c.TaskLogs(t)
	drained, n := CheckDrains(c.Stops, entries, handedOff)
	res.Violations, res.DrainedCommits = append(res.Violations, drained...), n
	res.Violations = append(res.Violations, checkJobs(t, &res, h, w, c, entries)...)
	return res
}

// checkJobs runs checks 7 to 9 (nested jobs and attempts) and counts what
// they looked at.
func checkJobs(t *testing.T, res *Result, h *History, w *Workload, c *Cluster, entries []Entry) []Violation {
	t.Helper()
	attempts := Attempts(entries, c.RunEnds, time.Now())
	if len(attempts) == 0 && res.Tasks > 0 {
		t.Fatalf("chaos: no member logged an \"attempt started\" entry for %d tasks: did the message or the log level change?", res.Tasks)
	}
	decls := h.JobDecls()
	for _, d := range decls {
		if d.Parent != "" {
			res.ChildJobs++
		}
	}
	res.Attempts, res.JobStops = len(attempts), len(h.Stops())
	for _, e := range entries {
		switch {
		case e.Msg == msgJobRestart:
			res.JobRestarts++
		case e.Msg == msgJobEnded && e.End == "failed":
			res.JobsFailed++
		case e.Msg == msgJobEnded && e.End == "stopped":
			res.JobsStopped++
		}
	}
	jobOf := h.JobOf()
	cuts := append(append([]Cut(nil), c.Cuts...), FenceCuts(entries, c.RunEnds, time.Now())...)
	out := CheckOverlaps(attempts, cuts)
	out = append(out, CheckEndedJobs(attempts, entries, jobOf, decls, cuts)...)
	return append(out, CheckRestartCounts(entries, w.JobFinals(), decls, jobOf)...)
}

// TaskLogs reads the task events check 6 needs from every member's log,
// and the process runs whose drain timed out and handed work off.
func (c *Cluster) TaskLogs(t *testing.T) (entries []Entry, handedOff map[string]bool) {
	t.Helper()
	handedOff = map[string]bool{}
	for _, m := range c.Members {
		es, timedOut := NodeEntries(m.ID, m.Node)
		entries = append(entries, es...)
		for run := range timedOut {
			handedOff[runKey(m.ID, run)] = true
		}
	}
	return entries, handedOff
}

// CommitLogs maps every task some member's log says it finished to those
// members (one entry per "task finished" line, with the member's run).
func (c *Cluster) CommitLogs(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, m := range c.Members {
		for _, e := range m.Node.LogEntries(0, "task finished") {
			if st, _ := e["state"].(string); !terminalState[st] {
				continue // held for its job: not a commit; the job decides
			}
			id, _ := e["task"].(string)
			out[id] = append(out[id], fmt.Sprintf("%s (epoch %v, at %v)", m.ID, e["epoch"], e["time"]))
		}
	}
	return out
}

// terminalState holds the task states a "task finished" line commits; a
// task held for its job logs the line with its state unfinished.
var terminalState = map[string]bool{"TASK_STATE_COMPLETED": true, "TASK_STATE_FAILED": true, "TASK_STATE_CANCELLED": true}

// Report logs the summary and fails the test with the evidence of every
// violation, at most perCheck of each check.
func Report(t *testing.T, res Result, perCheck int) {
	t.Helper()
	t.Log(res.Summary())
	if len(res.Violations) == 0 {
		return
	}
	shown := map[string]int{}
	for _, v := range res.Violations {
		shown[v.Check]++
		if shown[v.Check] <= perCheck {
			t.Errorf("chaos violation %s", v)
		}
	}
	var counts []string
	for k, n := range shown {
		counts = append(counts, fmt.Sprintf("%s=%d", k, n))
	}
	t.Errorf("%s\nviolations by check: %s\nreplay the schedule with: %s", res.Summary(), strings.Join(counts, " "), res.Config.Replay)
}
