package main

import "testing"

func TestParseBenchLine(t *testing.T) {
	r, ok := parseBenchLine("BenchmarkFootprint/memory_per_running_task-2   2000   2027271 ns/op   5735 B/task   3704 granary_B/task   3671 heap_B/task   2064 stack_B/task")
	if !ok || r.N != 2000 || r.Extra["granary_B/task"] != 3704 || r.Extra["B/task"] != 5735 || r.Extra["ns/op"] != 2027271 {
		t.Fatalf("parsed %v %+v", ok, r)
	}
	for _, line := range []string{"PASS", "ok  \tgithub.com/x\t3.6s", "BenchmarkX-2 \t FAIL", "BenchmarkX-2 0 1 ns/op", "BenchmarkX-2 10 x ns/op"} {
		if _, ok := parseBenchLine(line); ok {
			t.Errorf("%q parsed as a result", line)
		}
	}
}
