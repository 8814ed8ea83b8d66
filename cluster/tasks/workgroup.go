package tasks

import (
	"context"
	"sync"
	"time"
)

// workGroup tracks the goroutines that job supervision starts off the
// actors, so Manager.Stop can wait for them. Unlike a bare WaitGroup, it
// refuses work once Wait has begun (sync.WaitGroup forbids an Add racing a
// Wait): a stopping member starts no more; the job records say what was in
// progress for the next owner.
//
// Its work runs under one context (Context), which WaitFor cancels when
// its caller's deadline passes: a stopping member's work that would
// outlast the drain (a terminate waiting out a child's shutdown time, a
// store call bounded by three store time-outs) is cut off as a crash
// would cut it, and the job's next owner finishes it from its record.
type workGroup struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
}

// cutGrace bounds how long WaitFor waits, once it has cancelled the
// group's context, for work to notice: every piece of it returns on its
// context's end at once, so this is a bound on a bug, not a wait.
const cutGrace = time.Second

// Context is the context all of the group's work derives its own from.
func (g *workGroup) Context() context.Context {
	g.once.Do(func() { g.ctx, g.cancel = context.WithCancel(context.Background()) })
	return g.ctx
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

// WaitFor closes the group and waits for its goroutines until ctx ends;
// then it cancels their context and waits up to cutGrace more. It reports
// whether all of them returned before ctx ended.
func (g *workGroup) WaitFor(ctx context.Context) bool {
	g.close()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
	}
	g.Context()
	g.cancel()
	t := time.NewTimer(cutGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	return false
}

func (g *workGroup) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
