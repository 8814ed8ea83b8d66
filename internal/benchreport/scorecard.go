package main

import (
	"fmt"
	"strings"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// Issue #23's targets. The rate ratios are granary ÷ raw baseline; the
// failover target is bench-scale's (100,000 tasks), which this run does
// not load.
const (
	maxPendingTaskB    = 1024 // memory per pending task
	maxRunningTaskB    = 4096 // Granary's share of memory per running task
	minDurable128Ratio = 0.9  // durable tasks/s ÷ raw puts/s, 128 callers
	minDurable32Ratio  = 0.6  // the same with 32 callers
	minDevEchoRatio    = 1.0  // `granary dev` echo ÷ raw fsynced bbolt writes, 32 callers
	scaleFailoverTasks = 100_000
	maxScaleFailoverS  = 5.0
)

// scorecard holds the figures of issue #23's targets that the run's
// sections measured; a section that did not run leaves its figures nil,
// and the scorecard says so. The sections fill it in as they go, and the
// "scorecard" section, which runs last, renders it.
type scorecard struct {
	Memory                *memoryFigures
	Durable128, Durable32 *durableFigures
	DevClient, DevHTTP    *devFigures
	Failover              *failoverFigures
	Grain                 *grainFigures
	// LoadStart and LoadEnd are the machine's load averages (1, 5 and 15
	// minutes) when the run began and when the scorecard was made.
	LoadStart, LoadEnd string
}

// memoryFigures is what a member holds per task (the durable section).
type memoryFigures struct {
	PendingB                          float64 // heap + stacks per pending task
	RunningB, RunningHeap, RunningStk float64 // per running task: Granary's share, its heap and stacks
}

// durableFigures is one caller count of the durable throughput comparison:
// the rate ratio and the CPU per task of each process group against a raw
// put's, in µs (medians over rounds).
type durableFigures struct {
	Ratio                 float64 // tasks/s ÷ raw puts/s (32 writers)
	Caller, Nodes, Consul float64 // CPU per task
	PutCaller, PutConsul  float64 // CPU per raw put
}

// devFigures is one `granary dev` echo comparison against raw fsynced
// bbolt writes (the single-node section): rates, and this process's CPU
// and allocations per task and per raw write (callers, client and node all
// run in the benchmark's process).
type devFigures struct {
	Rate, RawRate     float64 // tasks/s, writes/s
	CPU, RawCPU       float64 // µs per task, per raw write
	Allocs, RawAllocs int64
	Bytes, RawBytes   int64
	Cores             int // the machine's, which bound the CPU-bound rate
}

// failoverFigures is the durable section's failover of running tasks.
type failoverFigures struct {
	Tasks      int
	P50, Worst float64 // seconds
}

// grainFigures is the grain-state section's CPU per call (µs, medians over
// rounds) and its two ratios (medians of the rounds' ratios).
type grainFigures struct {
	ConsulWritePut, NodeWriteGet float64
	WriteConsul, PutConsul       float64
	WriteNode, GetNode           float64
}

// scoreRow is one line of the scorecard.
type scoreRow struct {
	target  string // issue #23's figure and target
	section string // the -only name of the section that measures it
	figure  string // "" when not measured in this run
	verdict string
	why     string // for a target not met: the run's decomposition
}

const notMeasured = "not measured in this run"

// scorecardSection renders the scorecard of the figures the run's earlier
// sections left in s.
func scorecardSection(s *scorecard) (string, error) {
	s.LoadEnd = benchmarks.LoadAverage()
	return s.markdown(), nil
}

// markdown renders the scorecard: a pure function of its figures.
func (s *scorecard) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Issue #23 scorecard\n\n")
	fmt.Fprintf(&b, "Issue #23's targets against this run's figures, taken from the sections above (nothing is measured again here). For a target not met, the last column shows why from the same run's CPU per operation: on these cores, shared by callers, nodes and Consul, a throughput ratio follows the ratio of CPU per operation. Load average (1, 5, 15 min) at the run's start: %s; at this section: %s.\n\n",
		s.LoadStart, s.LoadEnd)
	fmt.Fprintf(&b, "| issue #23 figure (target) | this run | verdict | why, from this run's figures |\n|---|---|---|---|\n")
	for _, r := range s.rows() {
		fig, verdict := r.figure, r.verdict
		if fig == "" {
			fig, verdict = notMeasured, fmt.Sprintf("— (section `%s`)", r.section)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.target, fig, verdict, r.why)
	}
	fmt.Fprintf(&b, "\nThe issue's other figures need a million stored tasks, which this run does not load: `/v1/tasks:stats` at 1,000,000 tasks (≤ 10 ms), the submit rate as the store grows, and 1,000,000 tasks in one 3-member cluster are `make bench-scale`'s.\n")
	return b.String()
}

// rows is the scorecard's lines, in the order.
func (s *scorecard) rows() []scoreRow {
	rows := append(s.memoryRows(),
		durableRow(s.Durable128, 128, minDurable128Ratio), durableRow(s.Durable32, 32, minDurable32Ratio),
		devRow(s.DevClient, "Go client"), devRow(s.DevHTTP, "HTTP API"),
		s.failoverRow())
	return append(rows, s.grainRows()...)
}

// memoryRows judges what a member holds per pending and per running task.
func (s *scorecard) memoryRows() []scoreRow {
	pending := scoreRow{target: fmt.Sprintf("memory per pending task, heap + stacks (≤ %d KB)", maxPendingTaskB/1024), section: "durable"}
	running := scoreRow{target: fmt.Sprintf("memory per running task, Granary's share (≤ %d KB)", maxRunningTaskB/1024), section: "durable"}
	m := s.Memory
	if m == nil {
		return []scoreRow{pending, running}
	}
	return []scoreRow{
		pending.judged(fmt.Sprintf("%.0f B", m.PendingB), m.PendingB <= maxPendingTaskB,
			"memory, not CPU: the run measures heap and stacks together; is `tasks.Config.ParkIdle` on (a pending task without an actor or a timer)?"),
		running.judged(fmt.Sprintf("%.0f B", m.RunningB), m.RunningB <= maxRunningTaskB,
			fmt.Sprintf("memory, not CPU: heap %.0f B + stacks %.0f B per task, less the handler's own 2 KB stack; what the heap holds is profiled by hand in docs/benchmarks-history.md (\"Memory per running task and CPU per task on one node\")",
				m.RunningHeap, m.RunningStk)),
	}
}

// judged is r with its figure and verdict, and why when the target is not
// met.
func (r scoreRow) judged(figure string, met bool, why string) scoreRow {
	r.figure, r.verdict = figure, metOrNot(met)
	if !met {
		r.why = why
	}
	return r
}

// durableRow judges one caller count of durable throughput and, below its
// target, decomposes a task's CPU against a put's: the ratio the CPU
// allows, the ratio with the nodes' CPU at zero, and the nodes' CPU per
// task the target would need.
func durableRow(d *durableFigures, callers int, target float64) scoreRow {
	r := scoreRow{target: fmt.Sprintf("durable tasks/s ÷ raw Consul KV puts/s, %d callers (≥ %.1f×)", callers, target), section: "durable"}
	if d == nil {
		return r
	}
	task, put, rest := d.Caller+d.Nodes+d.Consul, d.PutCaller+d.PutConsul, d.Caller+d.Consul
	why := fmt.Sprintf("CPU per task: callers %.0f + nodes %.0f + Consul %.0f = %.0f µs, against a put's callers %.0f + Consul %.0f = %.0f µs (CPU ratio %.2f×); with the nodes' CPU at zero the ratio would be %.2f× (%.0f ÷ %.0f µs)",
		d.Caller, d.Nodes, d.Consul, task, d.PutCaller, d.PutConsul, put, ratio(put, task), ratio(put, rest), put, rest)
	if budget := put/target - rest; budget > 0 {
		why += fmt.Sprintf(", so %.1f× needs the nodes' CPU at most %.0f µs per task (%.0f now)", target, budget, d.Nodes)
	} else {
		why += fmt.Sprintf(", so %.1f× is out of reach on CPU even then: callers and Consul alone cost more than a put ÷ %.1f", target, target)
	}
	return r.judged(fmt.Sprintf("%.2f×", d.Ratio), d.Ratio >= target, why)
}

// devRow judges one `granary dev` echo path against raw bbolt writes and,
// below its target, compares CPU and allocations per task with a write's.
func devRow(d *devFigures, path string) scoreRow {
	r := scoreRow{target: fmt.Sprintf("`granary dev` echo ÷ raw fsynced bbolt writes, 32 callers, %s (≥ %.1f×)", path, minDevEchoRatio), section: "single"}
	if d == nil {
		return r
	}
	why := fmt.Sprintf("CPU per task, the whole process (callers, client, HTTP, node): %.0f µs, against a raw write's %.0f µs (%.0f×); allocations %d (%d B) against %d (%d B)",
		d.CPU, d.RawCPU, ratio(d.CPU, d.RawCPU), d.Allocs, d.Bytes, d.RawAllocs, d.RawBytes)
	if d.CPU > 0 && d.RawRate > 0 {
		ceiling := float64(d.Cores) * 1e6 / d.CPU
		why += fmt.Sprintf("; at that CPU, %d busy cores would run at most %.0f tasks/s, %.2f× the raw writes' rate", d.Cores, ceiling, ceiling/d.RawRate)
	}
	now := ratio(d.Rate, d.RawRate)
	return r.judged(fmt.Sprintf("%.2f× (%.0f ÷ %.0f per s)", now, d.Rate, d.RawRate), now >= minDevEchoRatio, why)
}

func (s *scorecard) failoverRow() scoreRow {
	r := scoreRow{target: fmt.Sprintf("failover of running tasks, kill -9 → all running on survivors (%d in ≤ %.0f s)", scaleFailoverTasks, maxScaleFailoverS), section: "durable"}
	f := s.Failover
	if f == nil {
		return r
	}
	r.figure = fmt.Sprintf("%d tasks: p50 %.2f s, worst %.2f s (about %.0f tasks/s)", f.Tasks, f.P50, f.Worst, ratio(float64(f.Tasks), f.P50))
	r.verdict = "judged by `make bench-scale`"
	r.why = fmt.Sprintf("this run loads %d; the target's %d (%.0f tasks/s) is bench-scale's benchmark: `go run ./internal/benchscale -tasks 0 -failover %d -failover-reps 3`; the failover's CPU per adopted task is measured by hand in docs/benchmarks-history.md (\"A million tasks…\")",
		f.Tasks, scaleFailoverTasks, scaleFailoverTasks/maxScaleFailoverS, scaleFailoverTasks)
	return r
}

func (s *scorecard) grainRows() []scoreRow {
	consul := scoreRow{target: fmt.Sprintf("grain write: Consul's CPU ÷ a raw put's of the same size (≤ %.1f×)", maxConsulWritePut), section: "grainstate"}
	node := scoreRow{target: fmt.Sprintf("grain write: the node's CPU ÷ a grain call that writes nothing (≤ %.1f×)", maxNodeWriteGet), section: "grainstate"}
	g := s.Grain
	if g == nil {
		return []scoreRow{consul, node}
	}
	return []scoreRow{
		consul.judged(fmt.Sprintf("%.2f×", g.ConsulWritePut), g.ConsulWritePut <= maxConsulWritePut,
			fmt.Sprintf("Consul's CPU per grain write %.0f µs, per put %.0f µs (medians over rounds; the figure is the median of the rounds' ratios)", g.WriteConsul, g.PutConsul)),
		node.judged(fmt.Sprintf("%.2f×", g.NodeWriteGet), g.NodeWriteGet <= maxNodeWriteGet,
			fmt.Sprintf("the node's CPU per grain write %.0f µs, per `get` %.0f µs (medians over rounds): the write's own share (encoding the record, its transaction) is %.0f µs, which %.1f× allows up to %.0f µs",
				g.WriteNode, g.GetNode, g.WriteNode-g.GetNode, maxNodeWriteGet, (maxNodeWriteGet-1)*g.GetNode)),
	}
}

func metOrNot(met bool) string {
	if met {
		return "met"
	}
	return "**not met**"
}

// ratio is a ÷ b, 0 when b is 0 (a figure a section could not measure).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
