package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
)

// countStates are the states the counting tests move tasks through.
var countStates = []messages.TaskState{
	messages.TaskState_TASK_STATE_PENDING, messages.TaskState_TASK_STATE_RUNNING,
	messages.TaskState_TASK_STATE_RETRYING, messages.TaskState_TASK_STATE_COMPLETED,
	messages.TaskState_TASK_STATE_FAILED, messages.TaskState_TASK_STATE_CANCELLED,
}

// counter is s as a store.Counter; the suite requires every store to keep
// counts.
func counter(t *testing.T, s store.Store) store.Counter {
	t.Helper()
	c, ok := s.(store.Counter)
	if !ok {
		t.Fatalf("%T does not implement store.Counter", s)
	}
	return c
}

// checkCounts fails unless s's counts equal a scan of every task, and a
// rebuild gives the same counts again when rebuild is set.
func checkCounts(t *testing.T, s store.Store, rebuild bool) {
	t.Helper()
	recs, err := s.List(ctx(t), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := store.CountRecords(recs)
	got, err := counter(t, s).Counts(ctx(t))
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	if !got.Equal(want) {
		t.Fatalf("counts %v, a scan of the %d tasks counts %v", got, len(recs), want)
	}
	if !rebuild {
		return
	}
	again, err := counter(t, s).RebuildCounts(ctx(t))
	if err != nil {
		t.Fatalf("RebuildCounts: %v", err)
	}
	if !again.Equal(want) {
		t.Fatalf("rebuilt counts %v, a scan counts %v", again, want)
	}
}

// countStep changes one random task of ids (creating, moving to another
// state or owner, or deleting it) and keeps recs, the live records, in step.
func countStep(t *testing.T, s store.Store, rnd *rand.Rand, recs map[string]store.Record, id string) {
	t.Helper()
	rec, ok := recs[id]
	switch {
	case !ok:
		task := NewTask(id, fmt.Sprintf("m%d", rnd.IntN(3)))
		task.Spec.Kind = []string{"echo", "sleep", "resize"}[rnd.IntN(3)]
		task.Status.State = countStates[rnd.IntN(len(countStates))]
		recs[id] = mustCreate(t, s, task)
	case store.Terminal(rec.Task.GetStatus().GetState()) && rnd.IntN(2) == 0:
		if err := s.Delete(ctx(t), id, rec.Revision); err != nil {
			t.Fatalf("Delete(%s): %v", id, err)
		}
		delete(recs, id)
	default:
		recs[id] = setState(t, s, rec, fmt.Sprintf("m%d", rnd.IntN(3)), countStates[rnd.IntN(len(countStates))])
	}
}

// testCountsMatchScan: after a random sequence of creates, state changes
// and deletes (and refused writes, which count nothing), the counts equal
// a scan of every task; so do rebuilt counts.
func testCountsMatchScan(t *testing.T, s store.Store) {
	checkCounts(t, s, false) // empty
	rnd := rand.New(rand.NewPCG(23, 1))
	recs := map[string]store.Record{}
	for i := 0; i < 200; i++ {
		countStep(t, s, rnd, recs, fmt.Sprintf("c%02d", rnd.IntN(40)))
		if i%50 == 49 {
			checkCounts(t, s, false)
		}
	}
	// Refused writes change no count: a create of an id taken, a stale
	// update, a stale delete.
	for id, rec := range recs {
		if _, created, err := s.Create(ctx(t), NewTask(id, "m9")); err != nil || created {
			t.Fatalf("Create(%s) again = %v, %v", id, created, err)
		}
		stale := proto.Clone(rec.Task).(*messages.Task)
		stale.Status.State, stale.Status.Owner = messages.TaskState_TASK_STATE_FAILED, "m-stale"
		if _, err := s.Update(ctx(t), stale, rec.Revision+1000); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale Update(%s) = %v, want ErrConflict", id, err)
		}
		if err := s.Delete(ctx(t), id, rec.Revision+1000); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale Delete(%s) = %v, want ErrConflict", id, err)
		}
		break
	}
	checkCounts(t, s, true)
	countStep(t, s, rnd, recs, "after-rebuild")
	checkCounts(t, s, false)
}

// testCountsConcurrentWriters: writers changing tasks at once (each its
// own tasks, and all of them racing on shared ones) leave counts equal to
// a scan.
func testCountsConcurrentWriters(t *testing.T, s store.Store) {
	const writers, steps = 8, 40
	checkCounts(t, s, false) // made before the writes: they must keep them right
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- concurrentCountWriter(s, w, steps)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkCounts(t, s, true)
}

// concurrentCountWriter creates, changes and deletes its own tasks, and
// races the other writers on a few shared ones (whose conflicts it takes).
func concurrentCountWriter(s store.Store, w, steps int) error {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rnd := rand.New(rand.NewPCG(uint64(w), 7))
	for i := 0; i < steps; i++ {
		id := fmt.Sprintf("w%d-%d", w, i%10)
		if rnd.IntN(3) == 0 {
			id = fmt.Sprintf("shared-%d", rnd.IntN(4))
		}
		rec, err := s.Get(c, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			task := NewTask(id, "m1")
			task.Status.State = countStates[rnd.IntN(len(countStates))]
			_, _, err = s.Create(c, task)
		case err != nil:
		case store.Terminal(rec.Task.GetStatus().GetState()) && rnd.IntN(2) == 0:
			err = s.Delete(c, id, rec.Revision)
		default:
			next := proto.Clone(rec.Task).(*messages.Task)
			next.Status.State = countStates[rnd.IntN(len(countStates))]
			_, err = s.Update(c, next, rec.Revision)
		}
		if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("writer %d step %d (%s): %w", w, i, id, err)
		}
	}
	return nil
}
