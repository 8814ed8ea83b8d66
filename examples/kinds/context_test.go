package kinds_test

import (
	"context"
	"log/slog"
	"sync"

	"github.com/granary-rt/granary/actors"
)

// fakeContext is the TaskContext handlers get in these tests: a fixed task
// id and attempt, and a record of the progress they report. It is safe for
// concurrent use because the hang test reads it from another goroutine.
type fakeContext struct {
	context.Context
	actors.MemoryCheckpoints
	id      string
	attempt int

	mu       sync.Mutex
	progress []float64
}

var _ actors.TaskContext = (*fakeContext)(nil)

func newContext(ctx context.Context, id string, attempt int) *fakeContext {
	return &fakeContext{Context: ctx, id: id, attempt: attempt}
}

// cancelledContext is a fakeContext whose attempt has already been told to
// stop.
func cancelledContext(id string, attempt int) *fakeContext {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return newContext(ctx, id, attempt)
}

func (f *fakeContext) TaskID() string       { return f.id }
func (f *fakeContext) Kind() string         { return "test" }
func (f *fakeContext) Attempt() int         { return f.attempt }
func (f *fakeContext) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func (f *fakeContext) Heartbeat() {}

func (f *fakeContext) Progress(fraction float64, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.progress = append(f.progress, fraction)
}

// reported returns the progress fractions reported so far.
func (f *fakeContext) reported() []float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]float64(nil), f.progress...)
}
