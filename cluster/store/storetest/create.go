package storetest

import (
	"context"
	"sync"
	"testing"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
)

// CreateMany stores the n tasks task(0) .. task(n-1), 32 at a time (a
// store's writes are round trips to Consul), reporting a failed create
// with t.Error. It returns once all are stored.
func CreateMany(t testing.TB, s store.Store, n int, task func(i int) *messages.Task) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, _, err := s.Create(context.Background(), task(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}
