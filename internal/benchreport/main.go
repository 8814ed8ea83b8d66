// Command benchreport runs Granary's benchmarks next to their raw baselines
// in the same process, prints ratios, and writes docs/benchmarks.md, so a
// noisy machine still gives a meaningful comparison. `make bench` runs it.
//
//	go run ./internal/benchreport -out docs/benchmarks.md [-rounds 3] [-n 3000]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// pair is one comparison: ours against a raw baseline.
type pair struct {
	name, what        string
	ours, raw         func(*testing.B)
	oursName, rawName string
	metric            string // "ns/op" (lower is better) or a custom rate (higher is better)
	note              string
}

var pairs = []pair{
	{
		name: "supervised restart",
		what: "one failure→restart round trip of a child actor (panic, decision, restart, Started processed)",
		ours: benchmarks.SupervisedRestart, oursName: "granary supervisor.NewStrategy (one-for-one, no backoff)",
		raw: benchmarks.ProtoactorOneForOneRestart, rawName: "protoactor-go NewOneForOneStrategy",
		metric: "ns/op",
		note:   "protoactor's one-for-one keeps every failure instant of a child and scans them on each failure, so its cost per restart grows with the iteration count; both sides run the same fixed count",
	},
	{
		name: "echo throughput, Go client",
		what: "submit → committed result of `echo` tasks on one embedded node (bbolt, fsync), 32 concurrent callers through cluster/client",
		ours: benchmarks.EchoThroughputClient, oursName: "granary dev, Go client",
		raw: benchmarks.BoltWrites, rawName: "raw bbolt single-key writes, 32 writers (a task is 3 writes)",
		metric: "tasks/s",
		note:   "a task is 3 fsynced writes (submit; claim + start; commit), so the store-bound ceiling of the ratio is 0.33",
	},
	{
		name: "echo throughput, HTTP API",
		what: "the same through plain net/http: POST /v1/tasks then long-poll GET /v1/tasks/{id}?index=",
		ours: benchmarks.EchoThroughputHTTP, oursName: "granary dev, HTTP/JSON",
		raw: benchmarks.BoltWrites, rawName: "raw bbolt single-key writes, 32 writers",
		metric: "tasks/s",
		note:   "ceiling 0.33 as above",
	},
}

type sample struct {
	value  float64 // the metric
	allocs int64
	bytes  int64
}

func measure(f func(*testing.B), metric string) sample {
	r := testing.Benchmark(f)
	s := sample{allocs: r.AllocsPerOp(), bytes: r.AllocedBytesPerOp()}
	if metric == "ns/op" {
		s.value = float64(r.NsPerOp())
	} else {
		s.value = r.Extra[metric]
	}
	return s
}

func median(xs []sample) sample {
	sort.Slice(xs, func(i, j int) bool { return xs[i].value < xs[j].value })
	return xs[len(xs)/2]
}

func main() {
	out := flag.String("out", "docs/benchmarks.md", "markdown file to write")
	rounds := flag.Int("rounds", 3, "rounds per benchmark; the median is reported")
	n := flag.Int("n", 3000, "iterations per round (fixed, so that both sides of a pair do the same work)")
	flag.Parse()
	testing.Init()
	if err := flag.Set("test.benchtime", fmt.Sprintf("%dx", *n)); err != nil {
		fatal(err)
	}
	if err := flag.Set("test.benchmem", "true"); err != nil {
		fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (`go run ./internal/benchreport -out docs/benchmarks.md -rounds %d -n %d`) on %s.\n", *rounds, *n, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Each figure is the median of %d rounds of %d iterations; ours and the raw baseline run alternately in the same process, so the ratio holds on a noisy machine.\n\n", *rounds, *n)
	fmt.Fprintf(&b, "Machine: %s\n\n", machine())
	fmt.Fprintf(&b, "| benchmark | granary | raw baseline | ratio | granary allocs/op (B/op) | baseline allocs/op (B/op) |\n|---|---|---|---|---|---|\n")
	var notes []string
	for _, p := range pairs {
		var ours, raw []sample
		for i := 0; i < *rounds; i++ {
			raw = append(raw, measure(p.raw, p.metric))
			ours = append(ours, measure(p.ours, p.metric))
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
	}
	fmt.Fprintf(&b, "\nRatio is granary ÷ baseline: for ns/op lower is better, for tasks/s higher is better.\n\n%s\n", strings.Join(notes, "\n"))
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		fatal(err)
	}
	fmt.Println("wrote", *out)
}

func machine() string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	mem := ""
	if out, err := exec.Command("sh", "-c", "free -g | awk '/Mem:/ {print $2}'").Output(); err == nil {
		mem = strings.TrimSpace(string(out)) + " GiB RAM, "
	}
	return fmt.Sprintf("%s, %d cores, %s%s, %s/%s", cpu, runtime.NumCPU(), mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchreport:", err)
	os.Exit(1)
}
