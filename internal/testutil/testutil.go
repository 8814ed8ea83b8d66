// Package testutil holds helpers shared by Granary's tests: polling for a
// condition with a deadline instead of sleeping, and routing logs to t.Log.
package testutil

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond every interval until it reports true, and fails the
// test with cond's last explanation when timeout passes first.
func Eventually(t testing.TB, timeout time.Duration, cond func() (ok bool, why string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := 5 * time.Millisecond
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %s", timeout, why)
		}
		time.Sleep(interval)
		if interval < 100*time.Millisecond {
			interval *= 2
		}
	}
}

// Context returns a context cancelled at the end of the test or after
// timeout, whichever comes first.
func Context(t testing.TB, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// Logger returns a logger that writes to t.Log, so logs show only for
// failing (or -v) tests and interleave with the test's own output. Lines
// logged once the test's cleanups have run (a goroutine of the code under
// test that outlives it) are dropped: t.Log then would race with the
// test's end (the race detector saw it) or panic.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type tWriter struct {
	t    testing.TB
	mu   sync.RWMutex // held to read while logging; Cleanup writes done
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.done {
		return len(p), nil
	}
	defer func() { _ = recover() }() // a log line after the test ended must not panic
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
