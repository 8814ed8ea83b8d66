package benchmarks

import "testing"

// BenchmarkFanOut: 1,000 child tasks spawned and awaited by one handler
// against the same tasks submitted and awaited by a client, on one member
// and on three.
func BenchmarkFanOut(b *testing.B) {
	b.Run("1_member", func(b *testing.B) { FanOut(b, 1, 2) })
	b.Run("3_members", func(b *testing.B) { FanOut(b, 3, 2) })
}
