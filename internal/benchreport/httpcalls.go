package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// httpCallSection measures a grain call as a client makes it, through a
// node's HTTP API (POST /v1/grains/{kind}/{id}) to a typed grain, next to
// the in-process calls of the grain call section (grains.Host.Call) and
// raw protoactor-go's cluster.Request, in alternating rounds: what the
// HTTP layer and the JSON of a typed request add, in time and in CPU per
// call.
func httpCallSection(ctx context.Context, cfg config) (string, error) {
	raw, err := benchmarks.StartRawPair(ctx)
	if err != nil {
		return "", err
	}
	defer raw.Close()
	host, err := benchmarks.StartGranaryPair(ctx)
	if err != nil {
		return "", err
	}
	defer host.Close()
	remote, err := benchmarks.StartGranaryHTTP(ctx, false)
	if err != nil {
		return "", err
	}
	defer remote.Close()
	local, err := benchmarks.StartGranaryHTTP(ctx, true)
	if err != nil {
		return "", err
	}
	defer local.Close()

	var b strings.Builder
	fmt.Fprintf(&b, "## Grain call through the HTTP API\n\n")
	fmt.Fprintf(&b, "| callers | path | p50 | p99 | calls/s | CPU/call | calls/s ÷ raw | CPU/call ÷ raw |\n|---|---|---|---|---|---|---|---|\n")
	sides := []struct {
		name string
		c    benchmarks.Caller
	}{
		{"raw protoactor-go (cluster.Request)", raw},
		{"granary, in process (Host.Call)", host},
		{"granary HTTP, owner another member", remote},
		{"granary HTTP, owner the node itself", local},
	}
	for _, mode := range []struct{ callers, n int }{{1, cfg.calls}, {benchmarks.Callers, cfg.concurrent}} {
		stats := make([][]benchmarks.CallStats, len(sides))
		for round := range cfg.callRounds {
			for k := range sides {
				i := (k + round) % len(sides) // each side in every place of the order
				runtime.GC()
				st, err := benchmarks.MeasureCalls(ctx, sides[i].c, mode.n, mode.callers)
				if err != nil {
					return "", fmt.Errorf("%s: %w", sides[i].name, err)
				}
				stats[i] = append(stats[i], st)
			}
		}
		rm := medianStats(stats[0])
		for i, side := range sides {
			m := medianStats(stats[i])
			rate, cpu := m.Rate/rm.Rate, float64(m.CPU)/float64(rm.CPU)
			fmt.Printf("grain calls, %2d caller(s)    %-38s p50 %v  %.0f/s  %v CPU/call   calls/s ÷ raw %.2f×  CPU ÷ raw %.2f×\n",
				mode.callers, side.name, m.P50, m.Rate, m.CPU, rate, cpu)
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %.0f | %.1f µs | %.2f× | %.2f× |\n", mode.callers, side.name,
				us(m.P50), us(m.P99), m.Rate, m.CPU.Seconds()*1e6, rate, cpu)
		}
	}
	fmt.Fprintf(&b, `
How measured: the grain call section's two members (and raw protoactor-go's), %d rounds in which the four paths take turns (each in every place of the order), of %d calls (1 caller) or %d calls (%d callers); each figure is the median over rounds. The HTTP paths serve member a's API (httpapi.New, as a node serves it) on a loopback port to an http.Client with keep-alive in the same process, and call typed_echo, a typed grain (actors.GrainOf with a three-field struct, as the stock grains are) echoing the %d-byte JSON request: the node reads the body, checks it is JSON, decodes it into the grain's request type once (GrainKind.Check; an activation on the node itself takes that value, one on the other member decodes the bytes), and writes the answer. CPU/call is the whole process's (client, both members) ÷ calls.
`, cfg.callRounds, cfg.calls, cfg.concurrent, benchmarks.Callers, benchmarks.EchoPayloadBytes)
	return b.String(), nil
}
