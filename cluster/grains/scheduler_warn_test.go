package grains

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/internal/logevery"
	"github.com/granary-rt/granary/internal/testutil"
)

type failingReminders struct{ ReminderStore }

func (failingReminders) WatchReminders(context.Context, int, uint64) ([]IndexEntry, uint64, error) {
	return nil, 0, errors.New("dial tcp 127.0.0.1:8500: connect: connection refused")
}

// TestSchedulerWarnsOnce: while Consul is away every shard's watch fails
// and retries; the log gets one warning for all of them, not one per
// shard and retry (it got hundreds a minute).
func TestSchedulerWarnsOnce(t *testing.T) {
	var buf testutil.LogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	s := &scheduler{rs: failingReminders{}, log: slog.New(slog.NewTextHandler(&buf, nil)), events: make(chan any, 1),
		ctx: ctx, cancel: cancel, watchWarn: logevery.Limiter{Period: reminderWarnEvery}}
	var wg sync.WaitGroup
	for shard := range 32 {
		wg.Add(1)
		go func() { defer wg.Done(); s.watch(ctx, shard) }()
	}
	time.Sleep(500 * time.Millisecond) // a few retries of each watch
	cancel()
	wg.Wait()
	if n := strings.Count(buf.String(), "reading the reminder index failed"); n != 1 {
		t.Fatalf("%d warnings from 32 failing watches in 500ms, want 1:\n%s", n, buf.String())
	}
}
