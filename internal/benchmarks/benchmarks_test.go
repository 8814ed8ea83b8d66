package benchmarks

import (
	"fmt"
	"testing"
)

func BenchmarkEchoThroughput(b *testing.B) {
	b.Run("client", EchoThroughputClient)
	b.Run("http", EchoThroughputHTTP)
	b.Run("raw_bolt_write", BoltWrites)
}

func BenchmarkDurableThroughput(b *testing.B) {
	b.Run("granary_two_nodes", DurableThroughput)
	b.Run("granary_two_nodes_128_callers", func(b *testing.B) { DurableThroughputCallers(b, 128) })
	b.Run("granary_two_nodes_128_callers_tls", func(b *testing.B) { DurableThroughputSecure(b, 128) })
	b.Run("granary_two_nodes_128_callers_metrics_off", func(b *testing.B) { DurableThroughputMetrics(b, 128, false) })
	b.Run("raw_consul_kv_put", ConsulKVWrites)
	b.Run("raw_consul_kv_put_128_writers", func(b *testing.B) { ConsulKVWritesN(b, 128) })
}

func BenchmarkFailoverAtScale(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("tasks_%d", n), func(b *testing.B) { FailoverAtScale(b, n) })
	}
}

func BenchmarkFootprint(b *testing.B) {
	b.Run("memory_per_running_task", MemoryPerRunningTask)
	b.Run("memory_per_pending_task", MemoryPerPendingTask)
	b.Run("store_bytes_per_completed_task", StoreBytesPerCompletedTask)
}
