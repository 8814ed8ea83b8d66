package grains

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// goroutineID is the running goroutine's number, from its stack header.
func goroutineID() uint64 {
	var buf [64]byte
	b := bytes.TrimPrefix(buf[:runtime.Stack(buf[:], false)], []byte("goroutine "))
	id, _ := strconv.ParseUint(string(b[:bytes.IndexByte(b, ' ')]), 10, 64)
	return id
}

// runOn schedules a run on d and returns the goroutine it ran on.
func runOn(t *testing.T, d *warmDispatcher) uint64 {
	t.Helper()
	got := make(chan uint64, 1)
	d.Schedule(func() { got <- goroutineID() })
	select {
	case id := <-got:
		return id
	case <-time.After(10 * time.Second):
		t.Fatal("a scheduled run did not run")
		return 0
	}
}

// TestWarmDispatcherReuses: a run after another goes to the goroutine
// that ran the first, lingering; after linger, or after stop, to a new
// one.
func TestWarmDispatcherReuses(t *testing.T) {
	d := newWarmDispatcher(dispatchThroughput, time.Hour)
	first := runOn(t, d)
	deadline := time.Now().Add(10 * time.Second)
	for runOn(t, d) != first { // the first may not be idle again yet
		if time.Now().After(deadline) {
			t.Fatal("no run went to the lingering goroutine")
		}
	}
	d.stop()
	d.stop() // twice is fine
	if runOn(t, d) == first {
		t.Error("a run went to a goroutine after stop")
	}
	if got := d.Throughput(); got != dispatchThroughput {
		t.Errorf("Throughput() = %d", got)
	}

	// With a short linger, a run that comes later than it after the last
	// goes to a new goroutine: the idle one has ended.
	short := newWarmDispatcher(dispatchThroughput, time.Millisecond)
	first = runOn(t, short)
	deadline = time.Now().Add(10 * time.Second)
	for {
		time.Sleep(20 * time.Millisecond) // longer than linger
		if runOn(t, short) != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an idle goroutine lingered past linger")
		}
	}
}

// TestWarmDispatcherNeverWaits: runs that block do not hold up others;
// each gets a goroutine, as with protoactor's default dispatcher.
func TestWarmDispatcherNeverWaits(t *testing.T) {
	d := newWarmDispatcher(dispatchThroughput, time.Hour)
	t.Cleanup(d.stop)
	release := make(chan struct{})
	var started sync.WaitGroup
	const runs = 50
	started.Add(runs)
	for range runs {
		d.Schedule(func() {
			started.Done()
			<-release
		})
	}
	done := make(chan struct{})
	go func() { started.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("blocked runs held up others")
	}
	close(release)
}
