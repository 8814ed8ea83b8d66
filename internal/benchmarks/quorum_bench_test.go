package benchmarks

import "testing"

// BenchmarkQuorum runs the benchmarks of the three-server topology (three
// Consul servers, a client agent per member): durable throughput and its
// raw baseline, kill -9 failover beside one server, and the stall of a
// Consul leader election. benchreport's -only quorum runs them with more
// rounds and prints the markdown.
func BenchmarkQuorum(b *testing.B) {
	b.Run("durable_128_callers", func(b *testing.B) { DurableThroughputQuorum(b, 128) })
	b.Run("raw_consul_kv_put", func(b *testing.B) { ConsulKVWritesQuorum(b, Callers) })
	b.Run("kill_failover", KillFailoverTopologies)
	b.Run("leader_election_stall", LeaderElectionStall)
}
