// Command benchreport runs Granary's benchmarks next to their raw baselines
// in the same run, prints ratios, and writes docs/benchmarks.md, so a noisy
// machine still gives a meaningful comparison. `make bench` runs it.
//
//	go run ./internal/benchreport -out docs/benchmarks.md [-rounds 3] [-n 3000]
//
// The failover and singleton sections start a real Consul agent (bin/consul,
// `make consul`) and real `granary node` and rawnode processes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/benchmarks"
	"github.com/granary-rt/granary/internal/testconsul"
)

// config holds the command line.
type config struct {
	out        string
	rounds     int
	n          int // iterations per round of the single-node pairs
	callRounds int // rounds of the grain call comparison
	calls      int // sequential grain calls per round
	concurrent int // grain calls per round with benchmarks.Callers callers

	durableRounds, durableTasks int // durable throughput comparison
	metricsRounds               int // rounds of metrics on and off
	only                        string
	scaleRuns, scaleTasks       int // failover at scale

	stateRounds, stateCalls int           // grain state writes against raw puts
	stateCallers            int           // their concurrent callers
	reminders               int           // reminders due within one minute
	schedules               int           // schedules in the schedule lateness runs
	jobRounds               int           // rounds of the job restart comparison
	fanOutRounds            int           // rounds of the fan-out comparison
	checkpointRounds        int           // rounds of the checkpoint rate comparison
	checkpointTasks         int           // tasks checkpointing at once
	checkpointWindow        time.Duration // length of a checkpoint round
	quorumRounds            int           // rounds of the three-server throughput comparison
}

func main() {
	var cfg config
	flag.StringVar(&cfg.out, "out", "docs/benchmarks.md", "markdown file to write")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds per comparison; the median is reported")
	flag.IntVar(&cfg.n, "n", 3000, "iterations per round of the single-node comparisons (fixed, so that both sides do the same work)")
	// Grain calls take microseconds and the machine's noise comes in bursts
	// of seconds: many short alternating rounds give a steadier median.
	flag.IntVar(&cfg.callRounds, "call-rounds", 9, "rounds of the grain call comparison; the median is reported")
	flag.IntVar(&cfg.calls, "calls", 3000, "sequential grain calls per round")
	flag.IntVar(&cfg.concurrent, "concurrent-calls", 30000, "grain calls per round with 32 concurrent callers")
	flag.IntVar(&cfg.durableRounds, "durable-rounds", 5, "rounds of the durable throughput comparison")
	flag.IntVar(&cfg.durableTasks, "durable-tasks", 8000, "tasks (and raw puts) per durable throughput round")
	flag.IntVar(&cfg.metricsRounds, "metrics-rounds", 16, "rounds of durable throughput with metrics on and off, loaded together (3s each)")
	flag.StringVar(&cfg.only, "only", "", "run only these sections (comma-separated: single, calls, httpcalls, failover, placement, durable, metrics, grainstate, reminders, schedules, console, listing, jobrestart, fanout, checkpoints, quorum) and print their markdown instead of writing -out")
	flag.IntVar(&cfg.scaleRuns, "scale-runs", 3, "runs of the failover-at-scale benchmark")
	flag.IntVar(&cfg.scaleTasks, "scale-tasks", 10000, "tasks the killed member owns in the failover-at-scale benchmark")
	flag.IntVar(&cfg.stateRounds, "state-rounds", 5, "rounds of the grain state write comparison")
	flag.IntVar(&cfg.stateCallers, "state-callers", benchmarks.Callers, "concurrent callers (and raw writers) of the grain state write comparison")
	flag.IntVar(&cfg.stateCalls, "state-calls", 3000, "grain calls (and raw puts) per side and round of the grain state write comparison")
	flag.IntVar(&cfg.reminders, "reminders", 10000, "reminders due within one minute in the reminder lateness runs")
	flag.IntVar(&cfg.schedules, "schedules", 100, "schedules of every 2s in the schedule lateness runs")
	flag.IntVar(&cfg.jobRounds, "job-rounds", 5, "rounds of the one_for_all job restart comparison, per member count")
	flag.IntVar(&cfg.fanOutRounds, "fanout-rounds", 3, "rounds of the fan-out comparison (1,000 children from a handler against a client), per member count")
	flag.IntVar(&cfg.checkpointRounds, "checkpoint-rounds", 5, "rounds of the checkpoint rate comparison")
	flag.IntVar(&cfg.checkpointTasks, "checkpoint-tasks", 64, "tasks checkpointing at once (and raw writers) in the checkpoint rate comparison")
	flag.DurationVar(&cfg.checkpointWindow, "checkpoint-window", 3*time.Second, "length of a round of the checkpoint rate comparison")
	flag.IntVar(&cfg.quorumRounds, "quorum-rounds", 3, "rounds of the durable throughput comparison on three Consul servers against one")
	flag.Parse()
	testing.Init()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	// Fail before minutes of work, not after.
	if _, err := testconsul.Binary(); err != nil {
		return fmt.Errorf("the failover benchmarks need a Consul agent: %w", err)
	}
	if err := flag.Set("test.benchmem", "true"); err != nil {
		return err
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	var sections []string
	for _, s := range []struct {
		name string
		run  func() (string, error)
	}{
		{"single", func() (string, error) { return singleNodeSection(cfg) }},
		{"calls", func() (string, error) { return grainCallSection(ctx, cfg) }},
		{"httpcalls", func() (string, error) { return httpCallSection(ctx, cfg) }},
		{"failover", failoverSection},
		{"placement", placementSection},
		{"durable", func() (string, error) { return durableSection(cfg) }},
		{"metrics", func() (string, error) { return metricsSection(ctx, cfg) }},
		{"grainstate", func() (string, error) { return grainStateSection(cfg) }},
		{"reminders", func() (string, error) { return remindersSection(cfg) }},
		{"schedules", func() (string, error) { return schedulesSection(cfg) }},
		{"console", consoleSection},
		{"listing", listingSection},
		{"jobrestart", func() (string, error) { return jobRestartSection(cfg) }},
		{"fanout", func() (string, error) { return fanOutSection(cfg) }},
		{"checkpoints", func() (string, error) { return checkpointSection(cfg) }},
		{"quorum", func() (string, error) { return quorumSection(cfg) }},
	} {
		if cfg.only != "" && !slices.Contains(strings.Split(cfg.only, ","), s.name) {
			continue
		}
		md, err := s.run()
		if err != nil {
			return err
		}
		sections = append(sections, md)
	}

	took := time.Since(began).Round(time.Second)
	if cfg.only != "" { // a partial run does not replace the report
		fmt.Printf("\n%s\n(-only %s: %s not written; took %s)\n", strings.Join(sections, "\n"), cfg.only, cfg.out, took)
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (`go run ./internal/benchreport -out %s -rounds %d -n %d -call-rounds %d -calls %d -concurrent-calls %d -durable-rounds %d -durable-tasks %d -metrics-rounds %d -scale-runs %d -scale-tasks %d -state-rounds %d -state-calls %d -reminders %d -schedules %d -job-rounds %d -fanout-rounds %d -quorum-rounds %d`) on %s; the run took %s.\n",
		cfg.out, cfg.rounds, cfg.n, cfg.callRounds, cfg.calls, cfg.concurrent, cfg.durableRounds, cfg.durableTasks, cfg.metricsRounds, cfg.scaleRuns, cfg.scaleTasks, cfg.stateRounds, cfg.stateCalls, cfg.reminders, cfg.schedules, cfg.jobRounds, cfg.fanOutRounds, cfg.quorumRounds, time.Now().UTC().Format("2006-01-02 15:04 MST"), took)
	fmt.Fprintf(&b, "Granary and its raw baseline run in the same run, alternately where they share the machine, so the ratios hold on a noisy machine. Ratio is granary ÷ baseline.\n\n")
	fmt.Fprintf(&b, "Machine: %s\n\n%s", machine(), strings.Join(sections, "\n"))
	if err := os.WriteFile(cfg.out, []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s in %s\n", cfg.out, took)
	return nil
}

// benchmark runs f through testing.Benchmark with -benchtime set to times
// (like "3000x"). testing.Benchmark discards a failing benchmark's log, so
// a failure names the go test benchmark that shows it: rerun holds its
// -bench flag and package, like "-bench Restart ./supervisor".
func benchmark(f func(*testing.B), times, rerun string) (testing.BenchmarkResult, error) {
	if err := flag.Set("test.benchtime", times); err != nil {
		return testing.BenchmarkResult{}, err
	}
	r := testing.Benchmark(f)
	if r.N == 0 {
		return r, fmt.Errorf("a benchmark failed; to see why, run: go test -run '^$' %s -benchtime %s", rerun, times)
	}
	return r, nil
}
