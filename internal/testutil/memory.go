package testutil

import (
	"runtime"
	"sync"
)

// MemUse is the heap in use and the goroutine stacks of this process.
type MemUse struct{ Heap, Stacks uint64 }

// MemInUse reads them after GC (twice: what the first finalises, the
// second frees), for figures of memory per task.
func MemInUse() MemUse {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return MemUse{Heap: ms.HeapAlloc, Stacks: ms.StackInuse}
}

// GoroutineStack is the stack a goroutine that does nothing holds (the
// runtime's starting size: 2 KB, more under -race), measured over n of
// them: the least a goroutine costs, before what its code uses.
func GoroutineStack(n int) float64 {
	stop := make(chan struct{})
	var started sync.WaitGroup
	before := MemInUse()
	for range n {
		started.Add(1)
		go func() {
			started.Done()
			<-stop
		}()
	}
	started.Wait()
	after := MemInUse()
	close(stop)
	return (float64(after.Stacks) - float64(before.Stacks)) / float64(n)
}
