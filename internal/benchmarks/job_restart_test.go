package benchmarks

import (
	"testing"
	"time"
)

// BenchmarkJobRestart: a one_for_all restart of a 100-task job against
// cancelling and resubmitting 100 tasks, on one member and on three.
func BenchmarkJobRestart(b *testing.B) {
	b.Run("1_member", func(b *testing.B) { JobRestart(b, 1, 3) })
	b.Run("3_members", func(b *testing.B) { JobRestart(b, 3, 3) })
}

// BenchmarkCheckpoints: checkpoints per second one member sustains against
// raw Consul KV puts of the task record's size.
func BenchmarkCheckpoints(b *testing.B) { Checkpoints(b, 3, 64, 3*time.Second) }
