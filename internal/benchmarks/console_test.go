package benchmarks

import "testing"

// BenchmarkConsoleOverhead measures the CPU a console open on a busy node
// costs it, once (b.N is ignored; about two and a half minutes):
//
//	go test -run '^$' -bench ConsoleOverhead -benchtime 1x ./internal/benchmarks
func BenchmarkConsoleOverhead(b *testing.B) { ConsoleOverhead(b) }
