package supervisor_test

import (
	"testing"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// BenchmarkRestart compares one failure→restart round trip under this
// package's strategy and under protoactor-go's one-for-one strategy.
func BenchmarkRestart(b *testing.B) {
	b.Run("granary", benchmarks.SupervisedRestart)
	b.Run("protoactor_one_for_one", benchmarks.ProtoactorOneForOneRestart)
}
