package benchmarks

import "testing"

// BenchmarkScale is Scale at a size that fits go test (make bench-scale
// runs it at full size); -v shows why a run failed.
func BenchmarkScale(b *testing.B) {
	res := Scale(b, ScaleConfig{Tasks: 2000, Callers: 64, Reps: 3})
	b.ReportMetric(res.Rates[len(res.Rates)-1], "tasks/s")
	b.ReportMetric(float64(res.StatsP50.Microseconds()), "stats-µs")
}
