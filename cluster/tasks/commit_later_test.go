package tasks_test

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
)

// TestCommitWaitsForRoom: an attempt that succeeds while the disk is full
// keeps its result and commits it once room returns; it is not run again,
// the log says why the commit failed (once), and never that the member
// stopped (issue 19, point 9: it said so 12 times).
func TestCommitWaitsForRoom(t *testing.T) {
	var full atomic.Bool
	var faults atomic.Int64
	cfg := boltstore.DefaultConfig(filepath.Join(t.TempDir(), "tasks.db"))
	cfg.WriteFault = func() error {
		if full.Load() {
			faults.Add(1)
			return fmt.Errorf("write tasks.db: %w", syscall.ENOSPC)
		}
		return nil
	}
	s, err := boltstore.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	reg := actors.NewRegistry()
	kind, err := actors.NewTask("gate", func(ctx actors.TaskContext, p []byte) ([]byte, error) {
		select {
		case <-gate:
			return p, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterTask(kind); err != nil {
		t.Fatal(err)
	}
	var logs testutil.LogBuffer
	var started atomic.Int64
	mcfg := tasks.DefaultConfig("dev")
	mcfg.Store, mcfg.Registry = s, reg
	// Short, for several commit tries while the disk is full; not so short
	// that a loaded machine times a write out before it reaches the disk
	// (then the failure logged names the time-out, not the full disk: CI saw
	// it at 100 ms).
	mcfg.StoreTimeout = time.Second
	mcfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mcfg.Events.AttemptStarted = func(string, int) { started.Add(1) }
	t.Cleanup(func() { _ = s.Close() }) // after the manager stops
	m := startConfigured(t, mcfg)
	ctx := testutil.Context(t, 30*time.Second)
	rec, _, err := m.Submit(ctx, tasks.Submission{ID: "full-disk", Kind: "gate", Payload: []byte(`"kept"`)})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		return started.Load() == 1, "the attempt did not start"
	})
	full.Store(true)
	close(gate)
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		n := faults.Load()
		return n >= 20, fmt.Sprintf("%d writes failed so far", n)
	})
	full.Store(false)
	for {
		rec, err = m.Wait(ctx, "full-disk", rec.Revision)
		if err != nil {
			t.Fatalf("Wait: %v\n%s", err, logs.String())
		}
		if rec.Task.GetStatus().GetState() == messages.TaskState_TASK_STATE_COMPLETED {
			break
		}
	}
	if got := string(rec.Task.GetStatus().GetResult()); got != `"kept"` || rec.Task.GetStatus().GetAttempts() != 1 || started.Load() != 1 {
		t.Errorf("committed result %s after %d attempts (%d started), want \"kept\" after 1", got, rec.Task.GetStatus().GetAttempts(), started.Load())
	}
	out := logs.String()
	if strings.Contains(out, "stopped while running it") {
		t.Errorf("the log says the member stopped, which it did not:\n%s", out)
	}
	if n := strings.Count(out, "committing the task's end failed"); n != 1 || !strings.Contains(out, "no space left on device") {
		t.Errorf("the log has %d lines on the failed commit (want 1, naming the full disk):\n%s", n, out)
	}
}
