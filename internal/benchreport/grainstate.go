package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// minStateRateRatio was issue #13's target: grain calls that write state
// reach 0.8× the rate of raw Consul KV puts from as many callers. Issue
// #23 retired it for the two CPU ratios below (the rate follows the CPU
// of every process on a shared machine); the section still explains a
// rate below it.
const minStateRateRatio = 0.8

// Issue #23's targets: Consul's CPU per grain write at most 1.1× that of a
// raw put of the same size, the node's at most 2× that of a grain call
// that writes nothing.
const (
	maxConsulWritePut = 1.1
	maxNodeWriteGet   = 2.0
)

// grainStateSection compares grain calls that write durable state with
// raw Consul KV puts, in the same run and on the same Consul server.
func grainStateSection(cfg config, score *scorecard) (string, error) {
	r, err := benchmark(func(b *testing.B) {
		benchmarks.GrainStateWrites(b, cfg.stateRounds, cfg.stateCalls, cfg.stateCallers)
	}, "1x",
		"-bench GrainState ./internal/benchmarks")
	if err != nil {
		return "", err
	}
	x := r.Extra
	ms := func(k string) string { return us(time.Duration(x[k]) * time.Microsecond) }
	ratio, latRatio, readRatio := x["write-calls/s"]/x["raw-calls/s"], x["write-p50-µs"]/x["raw-p50-µs"], x["read-calls/s"]/x["write-calls/s"]
	fmt.Printf("grain state writes, %d callers   granary %.0f calls/s p50 %s   raw Consul KV %.0f puts/s p50 %s   calls/s ratio %.2f×  p50 ratio %.2f×   no-write calls %.0f/s p50 %s\n",
		cfg.stateCallers, x["write-calls/s"], ms("write-p50-µs"), x["raw-calls/s"], ms("raw-p50-µs"), ratio, latRatio, x["read-calls/s"], ms("read-p50-µs"))

	var b strings.Builder
	fmt.Fprintf(&b, "## Grain calls that write durable state\n\n")
	total := func(side string) float64 {
		return x[side+"-caller-cpu-µs/call"] + x[side+"-node-cpu-µs/call"] + x[side+"-consul-cpu-µs/call"]
	}
	cpu := func(side string) string {
		return fmt.Sprintf("%.0f + %.0f + %.0f = %.0f µs", x[side+"-caller-cpu-µs/call"], x[side+"-node-cpu-µs/call"], x[side+"-consul-cpu-µs/call"], total(side))
	}
	fmt.Fprintf(&b, "| %d callers | calls/s | p50 | p99 | CPU per call: callers + node + Consul | ratio to raw puts |\n|---|---|---|---|---|---|\n", cfg.stateCallers)
	fmt.Fprintf(&b, "| granary: counter `add` (state stored before the answer) | %.0f | %s | %s | %s | calls/s %.2f×; p50 %.2f× |\n",
		x["write-calls/s"], ms("write-p50-µs"), ms("write-p99-µs"), cpu("write"), ratio, latRatio)
	fmt.Fprintf(&b, "| raw Consul KV put of a %.0f-byte value | %.0f | %s | %s | %s | |\n", x["record-bytes"], x["raw-calls/s"], ms("raw-p50-µs"), ms("raw-p99-µs"), cpu("raw"))
	fmt.Fprintf(&b, "| granary: counter `get` (writes nothing), same member | %.0f | %s | %s | %s | %.2f× the writing calls' rate |\n",
		x["read-calls/s"], ms("read-p50-µs"), ms("read-p99-µs"), cpu("read"), readRatio)
	cw, nw := x["consul-write/put-cpu-x"], x["node-write/get-cpu-x"]
	score.Grain = &grainFigures{ConsulWritePut: cw, NodeWriteGet: nw, WriteConsul: x["write-consul-cpu-µs/call"], PutConsul: x["raw-consul-cpu-µs/call"],
		WriteNode: x["write-node-cpu-µs/call"], GetNode: x["read-node-cpu-µs/call"]}
	fmt.Fprintf(&b, "\nCPU per grain write against its baselines (issue #23's figures, medians of the rounds' ratios): Consul's against a raw put of the same size %.2f× (target ≤ %.1f×) %s; the node's against a `get` that writes nothing %.2f× (target ≤ %.1f×) %s.\n",
		cw, maxConsulWritePut, verdict(cw <= maxConsulWritePut), nw, maxNodeWriteGet, verdict(nw <= maxNodeWriteGet))
	if ratio < minStateRateRatio {
		fmt.Fprintf(&b, `
Why the rate stays below %.1f× that of raw puts (issue #13's target, retired by #23): both sides are bound by this machine's CPU, and the rate ratio follows the ratio of CPU per call (%.2f× here: %.0f µs a put ÷ %.0f µs a grain write). In Consul, a grain write costs about what a put of its record does (%.0f against %.0f µs): concurrent writes share transactions, which saves Consul's per-request work but not its per-byte work on the record. What a put does not pay is the grain call itself: the node's HTTP, routing and activation (its CPU in the `+"`get`"+` row, %.0f µs) and, for a write, encoding the record and sending the transaction (the rest of its %.0f µs; both encoded by hand, not by reflection). Even if writing cost the node nothing (its CPU per call that of a `+"`get`"+`), the CPU ratio would be %.2f× (%.0f ÷ (%.0f + %.0f + %.0f) µs): the grain call's own path, on top of a Consul write that costs about a put, keeps the rate below the target on a machine where every process shares the same CPU. Grain calls that write nothing run at %.2f× the raw puts' rate.
`, minStateRateRatio, total("raw")/total("write"), total("raw"), total("write"), x["write-consul-cpu-µs/call"], x["raw-consul-cpu-µs/call"],
			x["read-node-cpu-µs/call"], x["write-node-cpu-µs/call"],
			total("raw")/(x["write-caller-cpu-µs/call"]+x["read-node-cpu-µs/call"]+x["write-consul-cpu-µs/call"]), total("raw"), x["write-caller-cpu-µs/call"], x["read-node-cpu-µs/call"], x["write-consul-cpu-µs/call"],
			x["read-calls/s"]/x["raw-calls/s"])
	}
	fmt.Fprintf(&b, `
How measured: one disk-backed Consul server (bin/consul -server) and one `+"`granary node`"+` process on it; %d goroutines of the benchmark process call the stock `+"`counter`"+` grain through the Go client (HTTP on loopback), call i on identity i mod %d, so concurrent calls are mostly of different grains. Each `+"`add`"+` is answered only once the grain's record (its count and the ids and answers of its last 32 requests, %.0f bytes) is stored in Consul KV by a check-and-set that also checks the member's claim on the grain; concurrent writes of many grains share Consul transactions. The raw baseline puts values of the record's size from as many writers to as many keys of the same server. After a warm-up (every grain activated, its record at full size), %d rounds of %d calls per side, the sides taking turns in a rotating order; each figure is the median over rounds. CPU per call is each process group's user + system time over a round, divided by its calls: on this 2-core machine, shared by the callers, the node and Consul, the rates follow it, and a call that writes state costs the read path (HTTP, routing, the grain) plus the write (encoding the record, a Consul transaction) where a raw put costs only the put. Grain calls that write nothing are compared with raw protoactor-go in "Grain call between two members on loopback" above.
`, cfg.stateCallers, benchmarks.StateIdentities, x["record-bytes"], cfg.stateRounds, cfg.stateCalls)
	return b.String(), nil
}
