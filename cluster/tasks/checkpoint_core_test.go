package tasks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/messages"
)

// TestCheckpointerCoalesces: 64 saves from 8 goroutines while each write
// takes 5ms: never two writes in flight, every save answered nil, fewer
// writes than saves, and a save after them all is the last value written
// (nothing older lands after it).
func TestCheckpointerCoalesces(t *testing.T) {
	var inFlight, most, writes atomic.Int32
	var mu sync.Mutex
	var stored []string
	c := newCheckpointer(nil, func(data []byte) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		writes.Add(1)
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		stored = append(stored, string(data))
		mu.Unlock()
		return nil
	})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				if err := c.save(context.Background(), []byte(fmt.Sprintf("%d-%d", g, i))); err != nil {
					t.Errorf("save: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if err := c.save(context.Background(), []byte("last")); err != nil {
		t.Fatal(err)
	}
	if most.Load() != 1 {
		t.Fatalf("%d writes were in flight at once; want 1", most.Load())
	}
	if w := writes.Load(); w >= 65 {
		t.Fatalf("%d writes for 65 saves: not coalesced", w)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := stored[len(stored)-1]; got != "last" || string(c.lastSaved()) != "last" {
		t.Fatalf("last value written %s, lastSaved %s; want the last asked for", got, c.lastSaved())
	}
}

// TestCheckpointerFailedWrite: the saves a failed write carried get its
// error, and the value before stays the last saved; the next save writes.
func TestCheckpointerFailedWrite(t *testing.T) {
	fail := true
	c := newCheckpointer([]byte("1"), func([]byte) error {
		if fail {
			return fmt.Errorf("%w: test", actors.ErrFenced)
		}
		return nil
	})
	if err := c.save(context.Background(), []byte("2")); !errors.Is(err, actors.ErrFenced) {
		t.Fatalf("save = %v, want ErrFenced", err)
	}
	if got := string(c.lastSaved()); got != "1" {
		t.Fatalf("lastSaved after a failed write = %s, want 1", got)
	}
	fail = false
	if err := c.save(context.Background(), []byte("3")); err != nil || string(c.lastSaved()) != "3" {
		t.Fatalf("save = %v, lastSaved %s", err, c.lastSaved())
	}
}

// TestCheckpointFence: only the running attempt of a running task saves.
func TestCheckpointFence(t *testing.T) {
	running := &messages.TaskStatus{State: messages.TaskState_TASK_STATE_RUNNING, Attempts: 3}
	retrying := &messages.TaskStatus{State: messages.TaskState_TASK_STATE_RETRYING, Attempts: 3}
	cases := []struct {
		name          string
		attempt, live int
		st            *messages.TaskStatus
		ok            bool
	}{
		{"running attempt", 3, 3, running, true},
		{"no attempt running", 3, 0, running, false},
		{"an earlier attempt", 2, 3, running, false},
		{"the store counts another attempt", 2, 2, running, false},
		{"task not running", 3, 3, retrying, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := checkpointFence(c.attempt, c.live, c.st)
			if c.ok != (err == nil) || (err != nil && !errors.Is(err, actors.ErrFenced)) {
				t.Fatalf("checkpointFence = %v, want ok %v (else ErrFenced)", err, c.ok)
			}
		})
	}
}

// TestCheckpointWriteErr: what the handler hears of a write that failed.
func TestCheckpointWriteErr(t *testing.T) {
	if err := checkpointWriteErr(fmt.Errorf("x: %w", errLostClaim)); !errors.Is(err, actors.ErrFenced) {
		t.Fatalf("lost claim: %v", err)
	}
	if err := checkpointWriteErr(fmt.Errorf("x: %w", errRecordTooLarge)); !errors.Is(err, actors.ErrCheckpointTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if err := checkpointWriteErr(errors.New("consul down")); errors.Is(err, actors.ErrFenced) {
		t.Fatalf("unavailable taken for fenced: %v", err)
	}
}

// TestFitDropsCheckpointForResult: a completed task whose result and
// checkpoint do not both fit keeps its result (no attempt will resume from
// the checkpoint), and the checkpoint's time and attempt.
func TestFitDropsCheckpointForResult(t *testing.T) {
	in := task(MaxPayloadBytes, 60<<10, 0)
	in.Status.Checkpoint = make([]byte, MaxCheckpointBytes)
	checkpointStatus(in.Status, in.Status.Checkpoint, 1, time.Unix(100, 0))
	if err := fit(in, MaxRecordBytes); err != nil {
		t.Fatal(err)
	}
	st := in.Status
	if st.GetState() != messages.TaskState_TASK_STATE_COMPLETED || len(st.GetResult()) != 60<<10 || len(st.GetCheckpoint()) != 0 || st.GetCheckpointAt() == nil {
		t.Fatalf("fit left %s, result %d bytes, checkpoint %d bytes at %v", st.GetState(), len(st.GetResult()), len(st.GetCheckpoint()), st.GetCheckpointAt())
	}
}
