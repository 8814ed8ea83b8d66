package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// metricsRound is how long each round of the durable comparison loads
// both clusters: long enough for thousands of tasks a side, short enough
// for many rounds.
const metricsRound = 3 * time.Second

// minMetricsRatio is issue #14's target: with metrics on, durable and
// grain call throughput keep at least this share of metrics off.
const minMetricsRatio = 0.98

// metricsSection measures what Prometheus metrics cost: durable task
// throughput of two clusters of `granary node` processes with metrics on
// (the default) and off (--metrics=false), loaded together, and grain
// calls between two members with their hosts instrumented and not, in
// alternating rounds of one run.
func metricsSection(ctx context.Context, cfg config) (string, error) {
	var on, off []benchmarks.DurableRound
	_, err := benchmark(func(b *testing.B) {
		if b.N == 1 {
			return // testing.Benchmark's probe run; the rounds run once, in the next
		}
		on, off = benchmarks.DurableAB(b, manyCallers/2, cfg.metricsRounds, metricsRound, []string{"--metrics=true"}, []string{"--metrics=false"})
	}, "2x", "(go run ./internal/benchreport -only metrics)")
	if err != nil {
		return "", err
	}
	// Each round's rates, and nodes' CPU per task in µs, per side.
	var rateOn, rateOff, cpuOn, cpuOff []float64
	for i := range on {
		rateOn, rateOff = append(rateOn, on[i].Rate), append(rateOff, off[i].Rate)
		cpuOn, cpuOff = append(cpuOn, float64(on[i].NodesCPU.Microseconds())), append(cpuOff, float64(off[i].NodesCPU.Microseconds()))
	}
	dOn, dOff := medianOf(rateOn), medianOf(rateOff)
	cOn, cOff := medianOf(cpuOn), medianOf(cpuOff)
	dRatio, cRatio := pairedRatio(rateOn, rateOff), pairedRatio(cpuOff, cpuOn)
	fmt.Printf("durable throughput, metrics  on %8.0f tasks/s (%.0f µs nodes' CPU/task)   off %8.0f (%.0f µs)   ratio %.3f×  CPU off÷on %.3f×\n", dOn, cOn, dOff, cOff, dRatio, cRatio)
	for i := range on {
		fmt.Printf("  round %2d: on %6.0f/s %4.0f µs   off %6.0f/s %4.0f µs\n", i+1, rateOn[i], cpuOn[i], rateOff[i], cpuOff[i])
	}

	plain, err := benchmarks.StartGranaryPair(ctx)
	if err != nil {
		return "", err
	}
	defer plain.Close()
	instrumented, err := benchmarks.StartGranaryPairMetrics(ctx)
	if err != nil {
		return "", err
	}
	defer instrumented.Close()
	var rows strings.Builder
	// Six times the grain call section's rounds, of a third of its calls:
	// the machine's noise comes in bursts of seconds, and a difference of a
	// few percent shows only in many pairs of rounds close together.
	rounds := 6 * cfg.callRounds
	for _, mode := range []struct{ callers, n int }{{1, cfg.calls / 3}, {benchmarks.Callers, cfg.concurrent / 3}} {
		var o, f []benchmarks.CallStats
		for round := range rounds {
			sides := []struct {
				c   benchmarks.Caller
				out *[]benchmarks.CallStats
			}{{instrumented, &o}, {plain, &f}}
			if round%2 == 1 {
				sides[0], sides[1] = sides[1], sides[0]
			}
			for _, side := range sides {
				runtime.GC()
				st, err := benchmarks.MeasureCalls(ctx, side.c, mode.n, mode.callers)
				if err != nil {
					return "", err
				}
				*side.out = append(*side.out, st)
			}
		}
		om, fm := medianStats(o), medianStats(f)
		var rates, cpus []float64
		for i := range o {
			rates = append(rates, o[i].Rate/f[i].Rate)
			cpus = append(cpus, float64(f[i].CPU)/float64(o[i].CPU))
		}
		rate, cpuRatio := medianOf(rates), medianOf(cpus)
		fmt.Printf("grain calls, %2d caller(s), metrics  on %.0f/s p50 %v %v CPU/call   off %.0f/s p50 %v %v CPU/call   calls/s ratio %.3f×  CPU off÷on %.3f×\n",
			mode.callers, om.Rate, om.P50, om.CPU, fm.Rate, fm.P50, fm.CPU, rate, cpuRatio)
		fmt.Fprintf(&rows, "| grain calls/s, %d caller(s) | %.0f (p50 %s, %.1f µs CPU/call) | %.0f (p50 %s, %.1f µs CPU/call) | %.3f× %s | %.3f× |\n",
			mode.callers, om.Rate, us(om.P50), om.CPU.Seconds()*1e6, fm.Rate, us(fm.P50), fm.CPU.Seconds()*1e6, rate, verdict(rate >= minMetricsRatio), cpuRatio)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## What metrics cost\n\n")
	fmt.Fprintf(&b, "| benchmark | metrics on | metrics off | on ÷ off (target ≥ %.2f×) | CPU off ÷ on |\n|---|---|---|---|---|\n", minMetricsRatio)
	fmt.Fprintf(&b, "| durable throughput, submit → committed result (`echo`), %d callers a side, both sides loaded together | %.0f tasks/s (%.0f µs nodes' CPU/task) | %.0f tasks/s (%.0f µs) | %.3f× %s | %.3f× |\n",
		manyCallers/2, dOn, cOn, dOff, cOff, dRatio, verdict(dRatio >= minMetricsRatio), cRatio)
	b.WriteString(rows.String())
	fmt.Fprintf(&b, `
How measured: metrics on is what `+"`granary node`"+` does by default (package cluster/metrics: every submit, attempt, store operation, Consul round trip, HTTP request and grain call counted and timed on the member's own Prometheus registry; gauges read at scrape time); off is `+"`--metrics=false`"+` (node.Config.Metrics false: nothing recorded, no /metrics). Nothing scrapes during the runs: a scrape costs the member one serialisation of its registry, every scrape interval, not per operation.
- **durable throughput**: two clusters of two `+"`granary node`"+` processes each, one with metrics on and one off, on one disk-backed Consul server, loaded **at the same time** by 64 callers each (128 in all, as the durable section's), in %d rounds of %s after a 2 s warm-up; a side's rate is the tasks it committed within the round. Whatever the machine's neighbours do during a round they do to both sides, so the ratio keeps only what differs between them; rounds of one side then the other, even short and alternated, differed by 10–20%% from round to round here, more than the cost at stake. The figures are medians over rounds, the ratios medians of each round's ratio. CPU per task is the side's two nodes' user + system time over the round ÷ the tasks it committed.
- **grain calls**: the grain call section's pair (two grains.Host members with gRPC remoting on loopback, an echo grain), one pair with each host given metrics of its own (grains.Config.Metrics) and one without, %d alternating rounds of %d calls (1 caller) or %d calls (%d callers); medians, the ratios medians of each round's. CPU/call is this process's CPU time over a round ÷ its calls.
`, cfg.metricsRounds, metricsRound, rounds, cfg.calls/3, cfg.concurrent/3, benchmarks.Callers)
	return b.String(), nil
}

// pairedRatio is the median of a[i]/b[i]: rounds of a and b ran back to
// back, so each pair shares the machine's state, which a ratio of medians
// taken over different rounds does not.
func pairedRatio(a, b []float64) float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] / b[i]
	}
	return medianOf(r)
}
