package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// Targets of issue 3, section 7.
const (
	maxLatencyRatio  = 1.2 // grain call p50, granary ÷ raw protoactor-go
	minRateRatio     = 0.8 // grain calls/s, granary ÷ raw protoactor-go
	maxFailoverP50   = 3 * time.Second
	maxFailoverWorst = 5 * time.Second
	maxFairShare     = 1.25
)

// grainCallSection compares a grain call between two members on loopback
// with raw protoactor-go's cluster.Request. Both pairs stay up for the whole
// section and take turns, so background load hits both alike.
func grainCallSection(ctx context.Context, cfg config) (string, error) {
	ours, err := benchmarks.StartGranaryPair(ctx)
	if err != nil {
		return "", err
	}
	defer ours.Close()
	raw, err := benchmarks.StartRawPair(ctx)
	if err != nil {
		return "", err
	}
	defer raw.Close()

	var b strings.Builder
	fmt.Fprintf(&b, "## Grain call between two members on loopback\n\n")
	fmt.Fprintf(&b, "| callers | granary p50 | raw p50 | p50 ratio (target ≤ %.1f×) | granary p99 | raw p99 | granary calls/s | raw calls/s | calls/s ratio (target ≥ %.1f×) |\n|---|---|---|---|---|---|---|---|---|\n", maxLatencyRatio, minRateRatio)
	for _, mode := range []struct{ callers, n int }{{1, cfg.calls}, {benchmarks.Callers, cfg.concurrent}} {
		var o, r []benchmarks.CallStats
		for range cfg.callRounds {
			for _, side := range []struct {
				c   benchmarks.Caller
				out *[]benchmarks.CallStats
			}{{raw, &r}, {ours, &o}} {
				runtime.GC() // the other side's garbage is not this side's cost
				st, err := benchmarks.MeasureCalls(ctx, side.c, mode.n, mode.callers)
				if err != nil {
					return "", err
				}
				*side.out = append(*side.out, st)
			}
		}
		om, rm := medianStats(o), medianStats(r)
		latRatio, rateRatio := float64(om.P50)/float64(rm.P50), om.Rate/rm.Rate
		fmt.Printf("grain calls, %2d caller(s)    granary p50 %v %.0f/s   raw p50 %v %.0f/s   p50 ratio %.2f×  calls/s ratio %.2f×\n",
			mode.callers, om.P50, om.Rate, rm.P50, rm.Rate, latRatio, rateRatio)
		fmt.Fprintf(&b, "| %d | %s | %s | %.2f× %s | %s | %s | %.0f | %.0f | %.2f× %s |\n", mode.callers,
			us(om.P50), us(rm.P50), latRatio, verdict(latRatio <= maxLatencyRatio),
			us(om.P99), us(rm.P99), om.Rate, rm.Rate, rateRatio, verdict(rateRatio >= minRateRatio))
	}
	fmt.Fprintf(&b, `
How measured: two actor systems in this process, each with protoactor-go's gRPC remoting on 127.0.0.1; the caller on the first calls %d identities owned by the second (call i goes to identity i mod %d), with a %d-byte payload that is echoed back. Identities are activated before timing. Each row runs %d rounds, raw and granary alternating, of %d calls (1 caller) or %d calls (%d callers); each column is the median over rounds of that round's figure. Latency is per call, from the call to its answer; calls/s is calls ÷ the round's wall time.
- **granary**: two grains.Host members (as `+"`granary node`"+` wires them, but sharing one in-memory grains.LocalDirectory instead of Consul, which is only touched on activation), grains.Host.Call with an echo grain kind.
- **raw**: two protoactor-go cluster members (in-memory test provider, disthash identity lookup), a virtual actor kind that echoes a wrapperspb.BytesValue, cluster.Request with default options.
`, benchmarks.CallIdentities, benchmarks.CallIdentities, benchmarks.EchoPayloadBytes, cfg.callRounds, cfg.calls, cfg.concurrent, benchmarks.Callers)
	return b.String(), nil
}

// medianStats takes the median of each figure separately.
func medianStats(xs []benchmarks.CallStats) benchmarks.CallStats {
	mid := func(f func(benchmarks.CallStats) float64) float64 {
		v := make([]float64, len(xs))
		for i, x := range xs {
			v[i] = f(x)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return benchmarks.CallStats{
		P50:  time.Duration(mid(func(s benchmarks.CallStats) float64 { return float64(s.P50) })),
		P99:  time.Duration(mid(func(s benchmarks.CallStats) float64 { return float64(s.P99) })),
		Rate: mid(func(s benchmarks.CallStats) float64 { return s.Rate }),
	}
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "**missed**"
}
