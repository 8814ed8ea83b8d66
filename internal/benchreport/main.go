// Command benchreport runs Granary's benchmarks next to their raw baselines
// in the same run, prints ratios, and writes docs/benchmarks.md, so a noisy
// machine still gives a meaningful comparison. `make bench` runs it. The
// report ends with issue #23's scorecard, made from the figures the run's
// sections measured. docs/benchmarks.md is rewritten whole; measurements
// made by hand belong in docs/benchmarks-history.md, which it links to and
// never writes.
//
//	go run ./internal/benchreport -out docs/benchmarks.md [-rounds 3] [-n 3000]
//	go run ./internal/benchreport -only durable,scorecard -durable-rounds 1
//
// The failover and singleton sections start a real Consul agent (bin/consul,
// `make consul`) and real `granary node` and rawnode processes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
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
	flag.StringVar(&cfg.only, "only", "", "run only these sections (comma-separated: single, calls, httpcalls, failover, placement, durable, metrics, grainstate, reminders, schedules, console, listing, jobrestart, fanout, checkpoints, quorum, scorecard) and print their markdown instead of writing -out")
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
	score := &scorecard{LoadStart: benchmarks.LoadAverage()}
	var ctx context.Context // bounds the sections that start long-lived pairs; set below
	all := []section{
		{"single", 90 * time.Second, func() (string, error) { return singleNodeSection(cfg, score) }},
		{"calls", time.Minute, func() (string, error) { return grainCallSection(ctx, cfg) }},
		{"httpcalls", 90 * time.Second, func() (string, error) { return httpCallSection(ctx, cfg) }},
		{"failover", 3 * time.Minute, failoverSection},
		{"placement", 0, placementSection},
		{"durable", 7 * time.Minute, func() (string, error) { return durableSection(cfg, score) }},
		{"metrics", 2 * time.Minute, func() (string, error) { return metricsSection(ctx, cfg) }},
		{"grainstate", time.Minute, func() (string, error) { return grainStateSection(cfg, score) }},
		{"reminders", 3 * time.Minute, func() (string, error) { return remindersSection(cfg) }},
		{"schedules", 150 * time.Second, func() (string, error) { return schedulesSection(cfg) }},
		{"console", 5 * time.Minute, consoleSection},
		{"listing", time.Minute, listingSection},
		{"jobrestart", 90 * time.Second, func() (string, error) { return jobRestartSection(cfg) }},
		{"fanout", 2 * time.Minute, func() (string, error) { return fanOutSection(cfg) }},
		{"checkpoints", 150 * time.Second, func() (string, error) { return checkpointSection(cfg) }},
		{"quorum", 7 * time.Minute, func() (string, error) { return quorumSection(cfg) }},
		// Last: it reads the figures the sections above left in score.
		{"scorecard", 0, func() (string, error) { return scorecardSection(score) }},
	}
	selected, err := selectSections(all, cfg.only)
	if err != nil {
		return err
	}
	expected := expectedDuration(selected)
	var cancel context.CancelFunc
	ctx, cancel = context.WithTimeout(context.Background(), runBudget(expected))
	defer cancel()
	fmt.Printf("running %d section(s), expected to take about %s on a quiet machine (bounded at %s)\n", len(selected), expected, runBudget(expected))

	var sections []string
	for _, s := range selected {
		start := time.Now()
		md, err := s.run()
		if err != nil {
			return fmt.Errorf("section %s: %w", s.name, err)
		}
		fmt.Printf("section %s took %s (expected about %s)\n", s.name, time.Since(start).Round(time.Second), s.expected)
		sections = append(sections, md)
	}

	took := time.Since(began).Round(time.Second)
	if cfg.only != "" { // a partial run does not replace the report
		fmt.Printf("\n%s\n(-only %s: %s not written; took %s)\n", strings.Join(sections, "\n"), cfg.only, cfg.out, took)
		return nil
	}
	if err := writeReport(cfg.out, sections, took); err != nil {
		return err
	}
	fmt.Printf("wrote %s in %s\n", cfg.out, took)
	return nil
}

// writeReport writes the full run's report to out: a header that names the
// command, the time, the history file and the machine, then the sections.
func writeReport(out string, sections []string, took time.Duration) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (`%s`) on %s; the run took %s.\n",
		commandLine(), time.Now().UTC().Format("2006-01-02 15:04 MST"), took)
	fmt.Fprintf(&b, "Granary and its raw baseline run in the same run, alternately where they share the machine, so the ratios hold on a noisy machine. Ratio is granary ÷ baseline.\n\n")
	fmt.Fprintf(&b, "Hand-made measurements and their analyses: [%s](%s) (this file is rewritten by each `make bench`; that one is not).\n\n", historyFile, historyLink(out))
	fmt.Fprintf(&b, "Machine: %s\n\n%s", machine(), strings.Join(sections, "\n"))
	return os.WriteFile(out, []byte(b.String()), 0o644)
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
