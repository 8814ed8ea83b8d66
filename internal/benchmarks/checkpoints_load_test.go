package benchmarks

import (
	"testing"
	"time"
)

// BenchmarkCheckpointLoad: echo-task durable throughput with 3000 running
// tasks checkpointing every second and without them (10,000 took over six
// minutes and failed on this 2-core machine; see docs/benchmarks-history.md, "Checkpoints").
func BenchmarkCheckpointLoad(b *testing.B) { CheckpointLoad(b, 2, 3000, time.Second, 4*time.Second) }
