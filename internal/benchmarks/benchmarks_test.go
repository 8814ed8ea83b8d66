package benchmarks

import "testing"

func BenchmarkEchoThroughput(b *testing.B) {
	b.Run("client", EchoThroughputClient)
	b.Run("http", EchoThroughputHTTP)
	b.Run("raw_bolt_write", BoltWrites)
}
