package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// benchmarkAlone runs one benchmark of internal/benchmarks' test binary in
// a process of its own (go test -bench pattern) and returns its result,
// with the metrics it reported in Extra. Memory figures need it: measured
// inside this process, after sections that leave clusters' clients and
// goroutines ending in the background, the heap shrank while tasks were
// added (Footprint/memory_per_pending failed two full runs that way).
func benchmarkAlone(pattern, times string) (testing.BenchmarkResult, error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", pattern, "-benchtime", times, "./internal/benchmarks")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return testing.BenchmarkResult{}, fmt.Errorf("go test -bench %s -benchtime %s: %w\n%s", pattern, times, err, out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if r, ok := parseBenchLine(line); ok {
			return r, nil
		}
	}
	return testing.BenchmarkResult{}, fmt.Errorf("go test -bench %s -benchtime %s printed no result:\n%s", pattern, times, out.String())
}

// parseBenchLine reads a benchmark's result line ("BenchmarkX-2  2000
// 1170007 ns/op  646.0 B/task"): its count, and each "value unit" pair
// after it in Extra (ns/op included).
func parseBenchLine(line string) (testing.BenchmarkResult, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return testing.BenchmarkResult{}, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n <= 0 {
		return testing.BenchmarkResult{}, false
	}
	r := testing.BenchmarkResult{N: n, Extra: map[string]float64{}}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return testing.BenchmarkResult{}, false
		}
		r.Extra[f[i+1]] = v
	}
	return r, true
}
