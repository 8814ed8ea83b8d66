// Command benchscale is `make bench-scale`: it loads many tasks (by
// default 1,000,000) into a 3-member cluster on a disk-backed Consul
// server and prints, as markdown for docs/benchmarks.md, the submit rate
// as the store grows, a listing page and the task counts at the end, and
// the memory of the members and of Consul (internal/benchmarks.Scale).
//
//	go run ./internal/benchscale -tasks 100000
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/benchmarks"
)

func main() {
	testing.Init()
	cfg := benchmarks.ScaleConfig{}
	flag.IntVar(&cfg.Tasks, "tasks", 1_000_000, "tasks to load (at least 1000)")
	flag.IntVar(&cfg.Callers, "callers", 128, "concurrent submitters")
	flag.IntVar(&cfg.Reps, "reps", 9, "reads of a listing page and of the counts at the end (the median is reported)")
	flag.Parse()
	if cfg.Tasks < 1000 || cfg.Callers < 1 || cfg.Reps < 1 {
		fmt.Fprintln(os.Stderr, "benchscale: -tasks must be at least 1000, -callers and -reps at least 1")
		os.Exit(2)
	}
	if err := flag.Set("test.benchtime", "1x"); err != nil {
		panic(err)
	}
	var res benchmarks.ScaleResult
	failed := true
	testing.Benchmark(func(b *testing.B) {
		res = benchmarks.Scale(b, cfg)
		failed = b.Failed()
	})
	if failed || res.Tasks == 0 {
		fmt.Fprintln(os.Stderr, "benchscale: the run failed (see above)")
		os.Exit(1)
	}
	fmt.Print(report(res, cfg))
}

// report is res as a markdown section.
func report(res benchmarks.ScaleResult, cfg benchmarks.ScaleConfig) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Written by `go run ./internal/benchscale -tasks %d -callers %d -reps %d` on %s; loading took %s. Machine: %d cores, %s, %s/%s.\n\n",
		cfg.Tasks, cfg.Callers, cfg.Reps, time.Now().UTC().Format("2006-01-02 15:04 UTC"), res.Took.Round(time.Second), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
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
	return sb.String()
}
