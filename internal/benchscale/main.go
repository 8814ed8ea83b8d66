// Command benchscale is `make bench-scale`: it loads many tasks (by
// default 1,000,000) into a 3-member cluster on a disk-backed Consul
// server and prints, as markdown for docs/benchmarks-history.md, the
// submit rate as the store grows, a listing page and the task counts at the end, and
// the memory of the members and of Consul (internal/benchmarks.Scale),
// then their memory growth with -pending tasks waiting for a retry; with
// -failover, the failover of that many running tasks after kill -9 of
// their member, -failover-reps times, with grain call latency meanwhile
// (internal/benchmarks.FailoverAtScale).
//
//	go run ./internal/benchscale -tasks 100000 -pending 100000 -failover 20000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/benchmarks"
)

func main() {
	testing.Init()
	cfg := benchmarks.ScaleConfig{}
	flag.IntVar(&cfg.Tasks, "tasks", 1_000_000, "tasks to load (at least 1000; 0: none, failover runs only)")
	flag.IntVar(&cfg.Callers, "callers", 128, "concurrent submitters")
	flag.IntVar(&cfg.Reps, "reps", 9, "reads of a listing page and of the counts at the end (the median is reported)")
	flag.IntVar(&cfg.Pending, "pending", 100_000, "pending tasks (waiting an hour for their retry) to submit at the end, for the members' memory per pending task")
	flag.BoolVar(&cfg.KeepIdleActors, "keep-idle-actors", false, "start the members with --keep-idle-actors (a pending task keeps its actor while it waits)")
	probe := flag.String("probe", "", "instead of a run: measure the background passes (janitor, index reconcile) on the running cluster \"scale\" of the Consul server at this HTTP address (with -probe-pid)")
	probePID := flag.Int("probe-pid", 0, "the process id of the Consul server of -probe, for its CPU time")
	probeCutoff := flag.String("probe-sweep-before", "", "with -probe: then measure a janitor sweep deleting the tasks submitted before this time (RFC 3339), as a retention later")
	failover := flag.Int("failover", 0, "running tasks of the member killed in the failover runs (0: none)")
	failoverReps := flag.Int("failover-reps", 3, "failover runs (p50 and worst are reported)")
	flag.DurationVar(&benchmarks.FailoverReport, "failover-report", benchmarks.FailoverReport, "how often the failover runs' sleep tasks report progress (the sleep kind takes 100ms to 5s)")
	flag.Parse()
	if (cfg.Tasks != 0 && cfg.Tasks < 1000) || cfg.Callers < 1 || cfg.Reps < 1 || cfg.Pending < 0 || *failover < 0 || *failoverReps < 1 {
		fmt.Fprintln(os.Stderr, "benchscale: -tasks must be 0 (no load) or at least 1000, -callers, -reps and -failover-reps at least 1, -pending and -failover not negative")
		os.Exit(2)
	}
	if *probe != "" {
		if err := probeRun(*probe, *probePID, *probeCutoff); err != nil {
			fmt.Fprintln(os.Stderr, "benchscale:", err)
			os.Exit(1)
		}
		return
	}
	if err := flag.Set("test.benchtime", "1x"); err != nil {
		panic(err)
	}
	if cfg.Tasks > 0 {
		var res benchmarks.ScaleResult
		failed := true
		cfg.Measured = func(r benchmarks.ScaleResult) { fmt.Print(report(r, cfg)) }
		testing.Benchmark(func(b *testing.B) {
			res = benchmarks.Scale(b, cfg)
			failed = b.Failed()
		})
		if failed || res.Tasks == 0 {
			fmt.Fprintln(os.Stderr, "benchscale: the run failed (see above)")
			os.Exit(1)
		}
		fmt.Print(reportEnd(res, cfg))
		if len(res.Errors) > 0 {
			os.Exit(1)
		}
	}
	if *failover > 0 {
		out, err := failovers(*failover, *failoverReps)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchscale:", err)
			os.Exit(1)
		}
		fmt.Print(out)
	}
}

// failovers runs benchmarks.FailoverAtScale reps times with n running
// tasks and returns its figures as a markdown table: the failover's p50
// and worst, and the grain calls made during it.
func failovers(n, reps int) (string, error) {
	var took []float64
	var rows []string
	for rep := range reps {
		failed := false
		r := testing.Benchmark(func(b *testing.B) {
			benchmarks.FailoverAtScale(b, n)
			failed = b.Failed()
		})
		if failed || r.Extra["s_failover"] == 0 {
			return "", fmt.Errorf("failover run %d of %d tasks failed (see above)", rep+1, n)
		}
		x := r.Extra
		took = append(took, x["s_failover"])
		rows = append(rows, fmt.Sprintf("| %d | %.0f (%.0f not running after) | %.2f s | %.0f | %.0f | %.0f calls, %.0f errors: p50 %.1f ms, p99 %.1f ms, max %.0f ms |",
			rep+1, x["tasks-running"], x["tasks-not-running-after"], x["s_failover"], x["survivor-fences"], x["tasks-failed"],
			x["grain-calls"], x["grain-errors"], x["grain-p50-ms"], x["grain-p99-ms"], x["grain-max-ms"]))
	}
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nFailover of %d running tasks after kill -9 of their member (benchmarks.FailoverAtScale, %d runs): p50 %.2f s, worst %.2f s.\n\n",
		n, reps, sorted[len(sorted)/2], sorted[len(sorted)-1])
	sb.WriteString("| run | tasks running on the member killed | kill -9 → every task running on a survivor | survivors' self-fencings (to 30 s after) | tasks failed | grain calls (whoami, 8 callers through a survivor) meanwhile |\n|---|---|---|---|---|---|\n")
	sb.WriteString(strings.Join(rows, "\n") + "\n")
	return sb.String(), nil
}

// report is res as a markdown section.
func report(res benchmarks.ScaleResult, cfg benchmarks.ScaleConfig) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Written by `go run ./internal/benchscale -tasks %d -callers %d -reps %d -pending %d -keep-idle-actors=%v` on %s; loading took %s. Machine: %d cores, %s, %s/%s.\n\n",
		cfg.Tasks, cfg.Callers, cfg.Reps, cfg.Pending, cfg.KeepIdleActors, time.Now().UTC().Format("2006-01-02 15:04 UTC"), res.Took.Round(time.Second), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&sb, "Load average at the end of loading: %s.\n\n", res.Load)
	sb.WriteString("| tasks stored | submit rate (last tenth before it) |\n|---|---|\n")
	for i, m := range res.Milestones {
		fmt.Fprintf(&sb, "| %d | %.0f tasks/s |\n", m, res.Rates[i])
	}
	mib := func(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
	var members []string
	for _, m := range res.MemberRSS {
		members = append(members, mib(m))
	}
	fmt.Fprintf(&sb, "\n| at %d tasks | |\n|---|---|\n", res.Tasks)
	fmt.Fprintf(&sb, "| GET /v1/tasks?limit=100 (newest), p50; index marked complete | %s; %v |\n", res.PageP50.Round(100*time.Microsecond), res.IndexReady)
	fmt.Fprintf(&sb, "| GET /v1/tasks:stats, p50 (the node's own time) | %s (%s) |\n", res.StatsP50.Round(100*time.Microsecond), res.StatsTook.Round(10*time.Microsecond))
	fmt.Fprintf(&sb, "| members' resident memory | %s |\n", strings.Join(members, ", "))
	fmt.Fprintf(&sb, "| Consul server's resident memory, per task | %s, %d B |\n", mib(res.ConsulRSS), res.ConsulRSS/int64(res.Tasks))
	fmt.Fprintf(&sb, "| Consul snapshot, per task | %s, %d B |\n", mib(res.SnapshotBytes), res.SnapshotBytes/int64(res.Tasks))
	fmt.Fprintf(&sb, "| members' self-fencings so far | %v |\n", res.Fencings)
	return sb.String()
}

// reportEnd is what res measured after the figures at cfg.Tasks (the
// pending tasks, the background passes), as markdown.
func reportEnd(res benchmarks.ScaleResult, cfg benchmarks.ScaleConfig) string {
	var sb strings.Builder
	if len(res.PendingRSS) > 0 {
		var grew []string
		var sum int64
		for _, g := range res.PendingRSS {
			grew, sum = append(grew, fmt.Sprintf("%.0f MiB", float64(g)/(1<<20))), sum+g
		}
		fmt.Fprintf(&sb, "\nMembers' memory growth with %d pending tasks (waiting 1 h for a retry, keep-idle-actors %v): %s; %d B per pending task.\n", cfg.Pending, cfg.KeepIdleActors, strings.Join(grew, ", "), sum/int64(cfg.Pending))
	}
	sb.WriteString("\nBackground passes over the store at the end (benchmarks.BackgroundPasses and SweepDue, run in this process as a member runs them):\n\n")
	sb.WriteString(passTable(append(res.Background, res.Sweep)))
	fmt.Fprintf(&sb, "\nMembers' self-fencings at the end: %v; load average %s.\n", res.FencingsEnd, benchmarks.LoadAverage())
	for _, e := range res.Errors {
		fmt.Fprintf(&sb, "\nFailed: %s\n", e)
	}
	return sb.String()
}

// probeRun measures the background passes (and, with cutoff, a sweep of
// the tasks stored before it) on the running cluster "scale" of the
// Consul server at addr, and prints what it measured, a failure too.
func probeRun(addr string, pid int, cutoff string) error {
	ctx := context.Background()
	passes, err := benchmarks.BackgroundPasses(ctx, addr, "scale", pid)
	if err == nil && cutoff != "" {
		var at time.Time
		var sweep benchmarks.Pass
		if at, err = time.Parse(time.RFC3339, cutoff); err == nil {
			sweep, err = benchmarks.SweepDue(ctx, addr, "scale", pid, at)
			passes = append(passes, sweep)
		}
	}
	fmt.Print(passTable(passes))
	return err
}

// passTable is passes as a markdown table.
func passTable(passes []benchmarks.Pass) string {
	var sb strings.Builder
	sb.WriteString(benchmarks.PassHeader)
	for _, p := range passes {
		sb.WriteString(p.String() + "\n")
	}
	return sb.String()
}
