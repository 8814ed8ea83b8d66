package benchmarks

import (
	"testing"
	"time"
)

// BenchmarkCheckpointLoad: echo-task durable throughput with 10,000
// running tasks checkpointing every second and without them.
func BenchmarkCheckpointLoad(b *testing.B) { CheckpointLoad(b, 2, 3000, time.Second, 4*time.Second) }
