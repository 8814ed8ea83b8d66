package benchmarks

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
)

// ScaleConfig configures Scale.
type ScaleConfig struct {
	// Tasks is how many tasks are loaded (issue #23's target: 1,000,000).
	Tasks int
	// Callers submit at once, through routing, coalescing clients.
	Callers int
	// Reps is how many times the listing page and the counts are read at
	// the end; their median is reported.
	Reps int
	// Pending tasks (each waiting an hour for its retry) are submitted
	// after the measurements at Tasks, and the members' memory read again
	// once they all wait; 0: none.
	Pending int
	// KeepIdleActors starts the members with --keep-idle-actors: a
	// pending task keeps its actor while it waits (tasks.Config.ParkIdle
	// off; parking is the default).
	KeepIdleActors bool
	// Measured, when set, is given the result once the figures at Tasks
	// are in (before the background passes and the pending tasks), so that
	// a caller can print them even if a later step fails.
	Measured func(ScaleResult)
}

// ScaleResult is what Scale measured.
type ScaleResult struct {
	Tasks int
	Took  time.Duration
	// Rates: submits per second over the last tenth of the tasks before
	// each milestone of stored tasks (10k, 100k, 1M and Tasks, those up to
	// Tasks).
	Milestones []int
	Rates      []float64
	// PageP50 and StatsP50: GET /v1/tasks?limit=100 and GET
	// /v1/tasks:stats at Tasks stored, median of Reps (StatsTook: the
	// node's own time for the counts).
	PageP50, StatsP50, StatsTook time.Duration
	// MemberRSS: each member's resident memory at the end; ConsulRSS the
	// Consul server's; SnapshotBytes the size of a Consul snapshot.
	MemberRSS     []int64
	ConsulRSS     int64
	SnapshotBytes int64
	// IndexReady: the submission-time index was marked complete
	// (bytime-ready) when the page was read; Load: the machine's load
	// average (/proc/loadavg) then.
	IndexReady bool
	Load       string
	// PendingRSS: each member's resident memory growth while Pending
	// tasks were submitted and came to wait for their retry.
	PendingRSS []int64
	// Background: the passes the cluster runs over its store whatever
	// its load, at Tasks stored (BackgroundPasses); Sweep: the janitor's
	// sweep deleting the tasks stored before the first milestone, as a
	// retention later (SweepDue), measured last.
	Background []Pass
	Sweep      Pass
	// Fencings: each member's self-fencings (from its log) once the
	// figures at Tasks are in, and FencingsEnd at the end; Errors: the
	// steps after the figures at Tasks that failed (the background passes,
	// the pending tasks, the sweep), which end the run early.
	Fencings, FencingsEnd []int
	Errors                []string
}

// Scale loads cfg.Tasks `echo` tasks (each completed, as most tasks of a
// long-lived cluster are) into three `granary node` processes on one
// disk-backed Consul server, and measures the submit rate as the store
// grows, a listing page and the counts at the end, and the memory of the
// members and of Consul (make bench-scale; docs/benchmarks-history.md).
func Scale(b *testing.B, cfg ScaleConfig) ScaleResult {
	agent := testconsul.Start(b, testconsul.Options{Mode: testconsul.Server})
	var nodes []*testnode.Node
	var clients []*client.Client
	args := []string{"--log-level", "warn"}
	if cfg.KeepIdleActors {
		args = append(args, "--keep-idle-actors")
	}
	for i := range 3 {
		nodes = append(nodes, testnode.ClusterNode(b, "scale", agent.HTTPAddr(), fmt.Sprintf("s%d", i+1), args...))
	}
	for _, n := range nodes {
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Callers}}
		clients = append(clients, clientOf(b, client.Config{Addr: n.HTTP, HTTPClient: hc}, 3))
	}
	res := ScaleResult{Tasks: cfg.Tasks}
	for _, m := range []int{10_000, 100_000, 1_000_000} {
		if m < cfg.Tasks {
			res.Milestones = append(res.Milestones, m)
		}
	}
	res.Milestones = append(res.Milestones, cfg.Tasks)
	start := time.Now()
	var cutoff time.Time // when the first milestone was stored
	res.Rates, cutoff = loadTasks(b, clients, cfg, res.Milestones)
	fatal := func(err error) { // benchscale runs this outside go test, which would not show b's log
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		b.Fatal(err)
	}
	res.Took = time.Since(start)
	ctx := context.Background()
	ready, _, err := agent.Client().KV().Get("granary/scale/bytime-ready", nil)
	if err != nil {
		fatal(err)
	}
	res.IndexReady, res.Load = ready != nil, LoadAverage()
	var pages, stats, took []time.Duration
	for range cfg.Reps {
		t0 := time.Now()
		if _, err := clients[0].ListPage(ctx, client.ListOptions{Limit: 100}); err != nil {
			fatal(err)
		}
		pages = append(pages, time.Since(t0))
		t0 = time.Now()
		st, err := clients[0].TaskStats(ctx)
		if err != nil {
			fatal(err)
		}
		stats, took = append(stats, time.Since(t0)), append(took, time.Duration(st.Took))
		if st.Total != cfg.Tasks {
			fatal(fmt.Errorf("stats count %d tasks, %d were loaded", st.Total, cfg.Tasks))
		}
	}
	res.PageP50, res.StatsP50, res.StatsTook = median(pages), median(stats), median(took)
	for _, n := range nodes {
		res.MemberRSS = append(res.MemberRSS, rss(b, n.PID()))
	}
	res.ConsulRSS = rss(b, agent.PID())
	snap, _, err := agent.Client().Snapshot().Save(nil)
	if err != nil {
		fatal(err)
	}
	defer snap.Close()
	if res.SnapshotBytes, err = io.Copy(io.Discard, snap); err != nil {
		fatal(err)
	}
	res.Fencings = fencings(b, nodes)
	if cfg.Measured != nil {
		cfg.Measured(res)
	}
	afterMeasures(ctx, b, &res, cfg, agent, nodes, clients, cutoff)
	return res
}

// afterMeasures runs the steps after the figures at cfg.Tasks: the
// background passes, the pending tasks, the sweep of the tasks stored
// before cutoff; a step that fails is noted in res.Errors and ends them.
func afterMeasures(ctx context.Context, b *testing.B, res *ScaleResult, cfg ScaleConfig, agent *testconsul.Agent, nodes []*testnode.Node, clients []*client.Client, cutoff time.Time) {
	defer func() { res.FencingsEnd = fencings(b, nodes) }()
	fail := func(step string, err error) bool {
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", step, err))
			fmt.Fprintf(os.Stderr, "benchscale: %s: %v\n", step, err)
		}
		return err != nil
	}
	var err error
	res.Background, err = BackgroundPasses(ctx, agent.HTTPAddr(), "scale", agent.PID())
	if fail("background passes", err) {
		return
	}
	if cfg.Pending > 0 {
		res.PendingRSS, err = loadPending(ctx, nodes, clients, cfg.Pending, cfg.Callers)
		if fail("pending tasks", err) {
			return
		}
	}
	res.Sweep, err = SweepDue(ctx, agent.HTTPAddr(), "scale", agent.PID(), cutoff)
	fail("sweep of the tasks stored before the first milestone", err)
}

// fencings is each node's self-fencings so far.
func fencings(b *testing.B, nodes []*testnode.Node) []int {
	out := make([]int, len(nodes))
	for i, n := range nodes {
		out[i] = selfFencings(b, n)
	}
	return out
}

// clientOf is a routing, coalescing client of cfg once its node lists
// members members.
func clientOf(b *testing.B, cfg client.Config, members int) *client.Client {
	cfg.Route, cfg.Coalesce = true, true
	c, err := client.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(startTimeout)
	for {
		ms, err := c.Members(context.Background())
		if err == nil && len(ms) == members {
			return c
		}
		if time.Now().After(deadline) {
			b.Fatalf("the node lists %d members (%v), want %d", len(ms), err, members)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// loadTasks submits cfg.Tasks tasks from cfg.Callers callers spread over
// clients and returns the submit rate over the last tenth before each
// milestone, and when the first milestone was stored.
func loadTasks(b *testing.B, clients []*client.Client, cfg ScaleConfig, milestones []int) ([]float64, time.Time) {
	var mu sync.Mutex
	done := 0
	at := map[int]time.Time{} // completions -> when, for each milestone and its tenth before
	for _, m := range milestones {
		at[m-m/10], at[m] = time.Time{}, time.Time{}
	}
	began := time.Now()
	run := began.UnixNano()
	ctx := context.Background()
	err := runAll(cfg.Callers, 0, cfg.Tasks, func(i int) error {
		req := api.SubmitRequest{ID: fmt.Sprintf("s-%d-%d", run, i), Kind: "echo", Payload: json.RawMessage(`{"n":1}`)}
		st, err := clients[i%len(clients)].Submit(ctx, req)
		for try := 1; err != nil && try < 5; try++ { // the same id again: one task (a loaded machine times out now and then)
			fmt.Fprintf(os.Stderr, "benchscale: submit %s again: %v\n", req.ID, err)
			st, err = clients[(i+try)%len(clients)].Submit(ctx, req)
		}
		if err != nil {
			return err
		}
		if st.State == api.StateFailed || st.State == api.StateCancelled { // pending: stored for its owner, who runs it
			return fmt.Errorf("task %s %s", st.ID, st.State)
		}
		mu.Lock()
		done++
		if _, ok := at[done]; ok {
			at[done] = time.Now()
		}
		if done%100_000 == 0 {
			fmt.Fprintf(os.Stderr, "benchscale: %d tasks stored at %s (%s in)\n", done, time.Now().UTC().Format(time.TimeOnly), time.Since(began).Round(time.Second))
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchscale: loading:", err)
		b.Fatal(err)
	}
	rates := make([]float64, len(milestones))
	for i, m := range milestones {
		rates[i] = float64(m/10) / at[m].Sub(at[m-m/10]).Seconds()
	}
	return rates, at[milestones[0]]
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// rss is a process's resident memory in bytes (VmRSS in /proc).
func rss(b *testing.B, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatalf("no VmRSS for process %d", pid)
	return 0
}

// LoadAverage is the machine's 1, 5 and 15 minute load averages.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
