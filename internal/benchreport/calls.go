package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
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

// Targets of issue 12: with TLS on, no figure falls by more than 10%.
const (
	minTLSRateRatio    = 0.9 // TLS on ÷ off, calls/s and tasks/s
	maxTLSLatencyRatio = 1.1 // TLS on ÷ off, grain call p50
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
	secure, err := startGranaryPairTLS(ctx)
	if err != nil {
		return "", err
	}
	defer secure.Close()

	var b, tlsRows strings.Builder
	fmt.Fprintf(&b, "## Grain call between two members on loopback\n\n")
	fmt.Fprintf(&b, "| callers | granary p50 | raw p50 | p50 ratio (target ≤ %.1f×) | granary p99 | raw p99 | granary calls/s | raw calls/s | calls/s ratio (target ≥ %.1f×) |\n|---|---|---|---|---|---|---|---|---|\n", maxLatencyRatio, minRateRatio)
	for _, mode := range []struct{ callers, n int }{{1, cfg.calls}, {benchmarks.Callers, cfg.concurrent}} {
		var o, r, t []benchmarks.CallStats
		for round := range cfg.callRounds {
			type side struct {
				c   benchmarks.Caller
				out *[]benchmarks.CallStats
			}
			sides := []side{{raw, &r}, {ours, &o}, {secure, &t}}
			if round%2 == 1 { // neither TLS nor plain always runs right after raw
				sides[1], sides[2] = sides[2], sides[1]
			}
			for _, side := range sides {
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
		tm := medianStats(t)
		tlsLat, tlsRate := float64(tm.P50)/float64(om.P50), tm.Rate/om.Rate
		tlsCPU := float64(tm.CPU) / float64(om.CPU)
		fmt.Printf("grain calls, %2d caller(s)    TLS p50 %v %.0f/s %v CPU/call   plain p50 %v %.0f/s %v CPU/call   p50 ratio %.2f×  calls/s ratio %.2f×  CPU ratio %.2f×\n",
			mode.callers, tm.P50, tm.Rate, tm.CPU, om.P50, om.Rate, om.CPU, tlsLat, tlsRate, tlsCPU)
		fmt.Fprintf(&tlsRows, "| %d | %s | %s | %.2f× %s | %s | %s | %.0f | %.0f | %.2f× %s | %.1f µs | %.1f µs | %.2f× |\n", mode.callers,
			us(om.P50), us(tm.P50), tlsLat, verdict(tlsLat <= maxTLSLatencyRatio),
			us(om.P99), us(tm.P99), om.Rate, tm.Rate, tlsRate, verdict(tlsRate >= minTLSRateRatio),
			om.CPU.Seconds()*1e6, tm.CPU.Seconds()*1e6, tlsCPU)
	}
	fmt.Fprintf(&b, "\nThe same calls with the members' remoting on mutual TLS (issue #12: no figure falls by more than 10%%); ratio is TLS ÷ plain:\n\n")
	fmt.Fprintf(&b, "| callers | plain p50 | TLS p50 | p50 ratio (target ≤ %.1f×) | plain p99 | TLS p99 | plain calls/s | TLS calls/s | calls/s ratio (target ≥ %.1f×) | plain CPU/call | TLS CPU/call | CPU ratio |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n%s",
		maxTLSLatencyRatio, minTLSRateRatio, tlsRows.String())
	fmt.Fprintf(&b, `
How measured: two actor systems in this process, each with protoactor-go's gRPC remoting on 127.0.0.1; the caller on the first calls %d identities owned by the second (call i goes to identity i mod %d), with a %d-byte payload that is echoed back. Identities are activated before timing. Each row runs %d rounds, raw, granary and granary with TLS alternating (granary and TLS swap places every other round), of %d calls (1 caller) or %d calls (%d callers); each column is the median over rounds of that round's figure. Latency is per call, from the call to its answer; calls/s is calls ÷ the round's wall time; CPU/call is this process's user + system time over the round (both members and the callers; the idle pairs add next to nothing) ÷ its calls, which the machine's neighbours move much less than rates and latencies (with 1 caller it also holds the Go scheduler spinning while each call waits on the network, so it is close to the wall time per call).
- **granary**: two grains.Host members (as `+"`granary node`"+` wires them, but sharing one in-memory grains.LocalDirectory instead of Consul, which is only touched on activation), grains.Host.Call with an echo grain kind.
- **granary with TLS**: the same two members, each with its own certificate of one CA (ECDSA P-256, internal/testpki) and remoting configured as `+"`granary node --cluster-ca --cluster-cert --cluster-key`"+` configures it: gRPC with TLS 1.3 both ways and a client certificate of the CA required. The connection between the members is set up (and its handshakes done) before timing, as in a running cluster.
- **raw**: two protoactor-go cluster members (in-memory test provider, disthash identity lookup), a virtual actor kind that echoes a wrapperspb.BytesValue, cluster.Request with default options.
`, benchmarks.CallIdentities, benchmarks.CallIdentities, benchmarks.EchoPayloadBytes, cfg.callRounds, cfg.calls, cfg.concurrent, benchmarks.Callers)
	return b.String(), nil
}

// startGranaryPairTLS starts benchmarks.StartGranaryPairTLS, whose
// certificates testpki makes in a testing.TB's temporary directory:
// testing.Benchmark is how a program gets one. The members have loaded
// their certificates when it returns and the directory goes.
func startGranaryPairTLS(ctx context.Context) (*benchmarks.GranaryPair, error) {
	var p *benchmarks.GranaryPair
	var err error
	_, berr := benchmark(func(b *testing.B) { p, err = benchmarks.StartGranaryPairTLS(ctx, b) }, "1x", "-bench GrainCall/granary_tls ./internal/benchmarks")
	if berr != nil {
		return nil, berr
	}
	return p, err
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
		CPU:  time.Duration(mid(func(s benchmarks.CallStats) float64 { return float64(s.CPU) })),
	}
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "**missed**"
}
