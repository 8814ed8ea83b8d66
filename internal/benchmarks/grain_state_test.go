package benchmarks

import "testing"

// BenchmarkGrainState: counter grain calls that write state next to raw
// Consul KV puts, 32 callers each, 5 rounds of 3000.
func BenchmarkGrainState(b *testing.B) {
	b.Run("writes_vs_raw_puts", func(b *testing.B) { GrainStateWrites(b, 5, 3000, Callers) })
}
