package benchmarks

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
)

func BenchmarkZZRunningProfile(b *testing.B) {
	runtime.MemProfileRate = 1
	n := startDevNodeWith(b, blockKind(b))
	defer n.close()
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		_, _ = n.c.Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("w-%d", i), Kind: "block"})
	}
	time.Sleep(time.Second)
	heap()
	heap()
	f0, _ := os.Create("/tmp/h25-heap0.pb.gz")
	pprof.WriteHeapProfile(f0)
	f0.Close()
	for i := 0; i < b.N; i++ {
		if _, err := n.c.Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("m-%d", i), Kind: "block"}); err != nil {
			b.Fatal(err)
		}
	}
	running := 0
	for deadline := time.Now().Add(time.Minute); running < b.N+50 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		running, _ = n.count(ctx, "running")
	}
	time.Sleep(time.Second)
	heap()
	heap()
	f, _ := os.Create("/tmp/h25-heap.pb.gz")
	pprof.WriteHeapProfile(f)
	f.Close()
}
