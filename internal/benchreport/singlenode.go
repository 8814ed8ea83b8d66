package main

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// pair is one comparison: ours against a raw baseline.
type pair struct {
	name, what        string
	ours, raw         func(*testing.B)
	oursName, rawName string
	rerun             string // go test's -bench flag and package for both sides
	metric            string // "ns/op" (lower is better) or a custom rate (higher is better)
	note              string
	// issue23, if set, keeps the comparison's figures for the scorecard.
	issue23 func(*scorecard, *devFigures)
}

var pairs = []pair{
	{
		name: "supervised restart",
		what: "one failure→restart round trip of a child actor (panic, decision, restart, Started processed)",
		ours: benchmarks.SupervisedRestart, oursName: "granary supervisor.NewStrategy (one-for-one, no backoff)",
		raw: benchmarks.ProtoactorOneForOneRestart, rawName: "protoactor-go NewOneForOneStrategy",
		rerun: "-bench Restart ./supervisor", metric: "ns/op",
		note: "protoactor's one-for-one keeps every failure instant of a child and scans them on each failure, so its cost per restart grows with the iteration count; both sides run the same fixed count",
	},
	{
		name: "echo throughput, Go client",
		what: "submit → committed result of `echo` tasks on one embedded node (bbolt, fsync), 32 concurrent callers through cluster/client",
		ours: benchmarks.EchoThroughputClient, oursName: "granary dev, Go client",
		raw: benchmarks.BoltWrites, rawName: "raw bbolt single-key writes through bbolt's Batch (2 ms MaxBatchDelay), fsynced, 32 writers",
		rerun: "-bench EchoThroughput ./internal/benchmarks", metric: "tasks/s",
		note:    "a short task is one store write (it is first written finished; its submit reads that its id is new first); the node commits the writes that arrive during one fsync together in the next transaction (group commit, cluster/store/boltstore), where the baseline's writes wait out bbolt's batch timer, so the ratio can pass 1",
		issue23: func(s *scorecard, f *devFigures) { s.DevClient = f },
	},
	{
		name: "echo throughput, HTTP API",
		what: "the same through plain net/http: POST /v1/tasks then long-poll GET /v1/tasks/{id}?index=",
		ours: benchmarks.EchoThroughputHTTP, oursName: "granary dev, HTTP/JSON",
		raw: benchmarks.BoltWrites, rawName: "raw bbolt single-key writes, 32 writers",
		rerun: "-bench EchoThroughput ./internal/benchmarks", metric: "tasks/s",
		note:    "as above",
		issue23: func(s *scorecard, f *devFigures) { s.DevHTTP = f },
	},
}

type sample struct {
	value  float64 // the metric
	allocs int64
	bytes  int64
	cpu    float64 // this process's CPU per operation, µs, where the benchmark reports it
}

func measure(p pair, f func(*testing.B), n int) (sample, error) {
	r, err := benchmark(f, fmt.Sprintf("%dx", n), p.rerun)
	if err != nil {
		return sample{}, err
	}
	s := sample{allocs: r.AllocsPerOp(), bytes: r.AllocedBytesPerOp(), cpu: r.Extra["process-cpu-µs/op"]}
	if p.metric == "ns/op" {
		s.value = float64(r.NsPerOp())
	} else {
		s.value = r.Extra[p.metric]
	}
	return s, nil
}

func median(xs []sample) sample {
	sort.Slice(xs, func(i, j int) bool { return xs[i].value < xs[j].value })
	return xs[len(xs)/2]
}

// singleNodeSection compares supervision and task throughput on one node.
func singleNodeSection(cfg config, score *scorecard) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "## One node: supervision and durable tasks\n\n")
	fmt.Fprintf(&b, "Each figure is the median of %d rounds of %d iterations; ours and the baseline alternate.\n\n", cfg.rounds, cfg.n)
	fmt.Fprintf(&b, "| benchmark | granary | raw baseline | ratio | granary allocs/op (B/op) | baseline allocs/op (B/op) |\n|---|---|---|---|---|---|\n")
	var notes []string
	for _, p := range pairs {
		var ours, raw []sample
		for range cfg.rounds {
			r, err := measure(p, p.raw, cfg.n)
			if err != nil {
				return "", err
			}
			o, err := measure(p, p.ours, cfg.n)
			if err != nil {
				return "", err
			}
			raw, ours = append(raw, r), append(ours, o)
		}
		o, r := median(ours), median(raw)
		ratio := o.value / r.value
		fmt.Printf("%-28s granary %12.0f %s   raw %12.0f %s   ratio %.2f×\n", p.name, o.value, p.metric, r.value, p.metric, ratio)
		fmt.Fprintf(&b, "| %s | %.0f %s | %.0f %s | %.2f× | %d (%d) | %d (%d) |\n", p.name, o.value, p.metric, r.value, p.metric, ratio, o.allocs, o.bytes, r.allocs, r.bytes)
		note := fmt.Sprintf("- **%s**: %s. Granary: %s. Baseline: %s.", p.name, p.what, p.oursName, p.rawName)
		if p.note != "" {
			note += " Note: " + p.note + "."
		}
		notes = append(notes, note)
		if p.issue23 != nil {
			p.issue23(score, &devFigures{Rate: o.value, RawRate: r.value, CPU: o.cpu, RawCPU: r.cpu,
				Allocs: o.allocs, RawAllocs: r.allocs, Bytes: o.bytes, RawBytes: r.bytes, Cores: runtime.NumCPU()})
		}
	}
	fmt.Fprintf(&b, "\nFor ns/op lower is better, for tasks/s higher is better.\n\n%s\n", strings.Join(notes, "\n"))
	return b.String(), nil
}
