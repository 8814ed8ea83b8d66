package tasks

import "sync"

// workGroup tracks the goroutines that job supervision starts off the
// actors, so Manager.Stop can wait for them. Unlike a bare WaitGroup, it
// refuses work once Wait has begun (sync.WaitGroup forbids an Add racing a
// Wait): a stopping member starts no more; the job records say what was in
// progress for the next owner.
type workGroup struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Go runs fn on a tracked goroutine; false if the group is closed.
func (g *workGroup) Go(fn func()) bool {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return false
	}
	g.wg.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.wg.Done()
		fn()
	}()
	return true
}

// Wait closes the group and waits for its goroutines.
func (g *workGroup) Wait() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}
