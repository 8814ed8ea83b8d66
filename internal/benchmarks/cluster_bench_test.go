package benchmarks

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkGrainCall compares a grain call between two members on loopback
// with raw protoactor-go's cluster.Request, sequentially and with Callers
// concurrent callers, and with the members' remoting on mutual TLS
// (granary_tls). For profiles:
//
//	go test -run '^$' -bench 'GrainCall/granary' -cpuprofile cpu.out ./internal/benchmarks
func BenchmarkGrainCall(b *testing.B) {
	sides := []struct {
		name  string
		start func(context.Context) (Caller, error)
	}{
		{"granary", func(ctx context.Context) (Caller, error) { return StartGranaryPair(ctx) }},
		{"granary_tls", func(ctx context.Context) (Caller, error) { return StartGranaryPairTLS(ctx, b) }},
		{"granary_metrics", func(ctx context.Context) (Caller, error) { return StartGranaryPairMetrics(ctx) }},
		{"granary_http", func(ctx context.Context) (Caller, error) { return StartGranaryHTTP(ctx, false) }},
		{"granary_http_local", func(ctx context.Context) (Caller, error) { return StartGranaryHTTP(ctx, true) }},
		{"raw_protoactor", func(ctx context.Context) (Caller, error) { return StartRawPair(ctx) }},
	}
	for _, side := range sides {
		b.Run(side.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			c, err := side.start(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			for _, callers := range []int{1, Callers} {
				b.Run(fmt.Sprintf("callers_%d", callers), func(b *testing.B) {
					b.ReportAllocs()
					b.ResetTimer()
					st, err := MeasureCalls(ctx, c, b.N, callers)
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(st.P50.Nanoseconds()), "p50-ns")
					b.ReportMetric(float64(st.P99.Nanoseconds()), "p99-ns")
					b.ReportMetric(st.Rate, "calls/s")
					b.ReportMetric(float64(st.CPU.Nanoseconds()), "cpu-ns/call")
				})
			}
		})
	}
}

// BenchmarkKillFailover runs the kill -9 failover comparison once (b.N is
// ignored); it needs bin/consul (`make consul`).
func BenchmarkKillFailover(b *testing.B) { KillFailover(b) }

// BenchmarkSingletonTakeover runs the leader takeover runs once (b.N is
// ignored); it needs bin/consul.
func BenchmarkSingletonTakeover(b *testing.B) { SingletonTakeover(b) }
