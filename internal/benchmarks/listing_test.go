package benchmarks

import "testing"

// BenchmarkListNewest: a page of the 100 newest of 20,000 tasks in the
// Consul store next to a raw read of every task, 5 rounds of 10.
func BenchmarkListNewest(b *testing.B) {
	b.Run("tasks_20000", func(b *testing.B) { ListNewest(b, 20000, 5, 10) })
}
