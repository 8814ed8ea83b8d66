package benchmarks

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	consul "github.com/hashicorp/consul/api"
)

// StateIdentities is how many counter grains the state-write benchmark
// calls: many more than callers, so concurrent writes are of different
// grains (and share transactions) as in a real workload.
const StateIdentities = 1024

// GrainStateWrites compares grain calls that write durable state with
// raw Consul KV puts, in the same run: one disk-backed Consul server
// (bin/consul -server) and one `granary node` process on it; callers
// goroutines of this process call the stock counter grain's "add" (a
// durable write before each answer) through the Go client, call i on
// identity i mod StateIdentities; the raw side puts, from as many
// writers, values as large as a counter's stored record to as many keys
// of the same server. A third side calls the counter's "get", which
// writes nothing. rounds rounds of n calls per side, the sides taking
// turns in a rotating order; it reports each side's median over rounds of
// calls/s, p50, p99 and the CPU per call (user + system time from
// /proc/PID/stat over the round, divided by its calls) of the callers, the
// node and Consul ("write-", "raw-" and "read-" prefixed), and two ratios
// of CPU per call: Consul's for a write against a raw put
// ("consul-write/put-cpu-x") and the node's for a write against a get
// ("node-write/get-cpu-x"). b.N is ignored.
func GrainStateWrites(b *testing.B, rounds, n, callers int) {
	agent := testconsul.Start(b, testconsul.Options{Mode: testconsul.Server})
	node := testnode.ClusterNode(b, "bench", agent.HTTPAddr(), "s1", "--log-level", "warn")
	c, err := client.New(client.Config{Addr: node.HTTP, HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: callers}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	add, get := []byte(`{"op":"add","n":1}`), []byte(`{"op":"get"}`)
	counter := func(op []byte) callerFunc {
		return func(ctx context.Context, i int) error {
			_, err := c.CallRaw(ctx, "counter", fmt.Sprintf("c%d", i%StateIdentities), op)
			return err
		}
	}
	// Warm up: every grain activated and its record grown to its usual
	// size (it keeps the ids and answers of its last 32 requests).
	if _, err := MeasureCalls(ctx, counter(add), 40*StateIdentities, callers); err != nil {
		b.Fatal(err)
	}
	kv := agent.Client().KV()
	rec, _, err := kv.Get("granary/bench/grainstate/counter/c0", nil)
	if err != nil || rec == nil {
		b.Fatalf("reading a counter's stored record: %v, %v", rec, err)
	}
	value := make([]byte, len(rec.Value))
	raw := callerFunc(func(ctx context.Context, i int) error {
		_, err := kv.Put(&consul.KVPair{Key: fmt.Sprintf("bench/raw/k%d", i%StateIdentities), Value: value}, (&consul.WriteOptions{}).WithContext(ctx))
		return err
	})
	if _, err := MeasureCalls(ctx, raw, 4*StateIdentities, callers); err != nil {
		b.Fatal(err)
	}
	sides := []struct {
		name string
		c    Caller
	}{{"write", counter(add)}, {"raw", raw}, {"read", counter(get)}}
	stats := map[string][]CallStats{}
	// CPU per call of each process group, µs: where the cost goes.
	cpu := map[string][]float64{}
	groups := []cpuGroup{{name: "caller", pids: []int{0}}, {name: "node", pids: []int{node.PID()}}, {name: "consul", pids: []int{agent.PID()}}}
	b.ResetTimer()
	for round := range rounds {
		for k := range sides {
			side := sides[(round+k)%len(sides)]
			runtime.GC()
			before := make([]time.Duration, len(groups))
			for i, g := range groups {
				before[i] = g.used()
			}
			st, err := MeasureCalls(ctx, side.c, n, callers)
			if err != nil {
				b.Fatalf("%s: %v", side.name, err)
			}
			stats[side.name] = append(stats[side.name], st)
			for i, g := range groups {
				k := side.name + "-" + g.name
				cpu[k] = append(cpu[k], float64((g.used()-before[i]).Microseconds())/float64(n))
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(value)), "record-bytes")
	for k, xs := range cpu {
		b.ReportMetric(medianOf(xs, func(v float64) float64 { return v }), k+"-cpu-µs/call")
	}
	// Issue #23's figures: Consul's CPU per grain write against a put of
	// the same size (target ≤ 1.1×), and the node's against a grain call
	// that writes nothing (target ≤ 2×), each the median of its rounds'
	// ratios (the sides of a round ran back to back, under the same load).
	b.ReportMetric(medianRatio(cpu["write-consul"], cpu["raw-consul"]), "consul-write/put-cpu-x")
	b.ReportMetric(medianRatio(cpu["write-node"], cpu["read-node"]), "node-write/get-cpu-x")
	for name, xs := range stats {
		b.ReportMetric(medianOf(xs, func(s CallStats) float64 { return s.Rate }), name+"-calls/s")
		b.ReportMetric(medianOf(xs, func(s CallStats) float64 { return float64(s.P50.Microseconds()) }), name+"-p50-µs")
		b.ReportMetric(medianOf(xs, func(s CallStats) float64 { return float64(s.P99.Microseconds()) }), name+"-p99-µs")
	}
}

// callerFunc is a Caller that is a function.
type callerFunc func(ctx context.Context, i int) error

func (f callerFunc) Call(ctx context.Context, i int) error { return f(ctx, i) }
func (f callerFunc) Close()                                {}

// medianRatio is the median over i of num[i]/den[i] (0 if there is none).
func medianRatio(num, den []float64) float64 {
	var rs []float64
	for i := range min(len(num), len(den)) {
		if den[i] > 0 {
			rs = append(rs, num[i]/den[i])
		}
	}
	if len(rs) == 0 {
		return 0
	}
	return medianOf(rs, func(v float64) float64 { return v })
}

// medianOf is the median of f over xs.
func medianOf[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	return v[len(v)/2]
}
