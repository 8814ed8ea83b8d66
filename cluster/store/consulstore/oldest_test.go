package consulstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestSweepReadsOnlyOldTasks: the janitor's sweep (tasks.Sweep) of a
// store holding 1500 recent tasks and 20 old finished ones, 2 old ones
// that finished recently and one old one still running, reads those 23
// task records from Consul, not all 1523 (the sweep before the index read
// every task), deletes the 20 with their index entries, and keeps the rest.
func TestSweepReadsOnlyOldTasks(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	rc, client := newReadCounter(t, agent, "sweep")
	s := indexedStore(t, client, consulstore.DefaultConfig("sweep"))
	ctx := context.Background()
	const recent, old, retention = 1500, 20, 7 * 24 * time.Hour
	now := time.Now()
	createMany(t, s, recent, now.Add(-time.Minute))
	// Old tasks, submitted 8 to 10 days ago across many hours.
	oldTask := func(id string, i int, st messages.TaskState, finished time.Time) {
		task := storetest.NewTask(id, "m1")
		task.Status.SubmittedAt = timestamppb.New(now.Add(-8*24*time.Hour - time.Duration(i)*150*time.Minute))
		task.Status.State = st
		if store.Terminal(st) {
			task.Status.FinishedAt = timestamppb.New(finished)
		}
		if _, _, err := s.Create(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	for i := range old {
		oldTask(fmt.Sprintf("old%02d", i), i, messages.TaskState_TASK_STATE_COMPLETED, now.Add(-8*24*time.Hour+time.Minute))
	}
	oldTask("late0", 3, messages.TaskState_TASK_STATE_FAILED, now.Add(-time.Hour))
	oldTask("late1", 9, messages.TaskState_TASK_STATE_COMPLETED, now.Add(-time.Hour))
	oldTask("running", 5, messages.TaskState_TASK_STATE_RUNNING, time.Time{})

	all, _ := rc.reads(func() {
		if _, err := s.List(ctx, store.Filter{}); err != nil {
			t.Fatal(err)
		}
	})
	var deleted int
	var err error
	records, requests := rc.reads(func() {
		deleted, err = tasks.Sweep(ctx, s, now, retention)
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("sweep of %d tasks (%d due): %d task records read in %d requests (a listing of every task reads %d)", recent+old+3, old, records, requests, all)
	if deleted != old {
		t.Fatalf("the sweep deleted %d tasks, want %d", deleted, old)
	}
	if records > old+3 {
		t.Fatalf("the sweep read %d task records from Consul, want at most the %d old ones", records, old+3)
	}
	for i := range old {
		if _, err := s.Get(ctx, fmt.Sprintf("old%02d", i)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("old%02d after the sweep: %v, want ErrNotFound", i, err)
		}
	}
	for _, id := range []string{"late0", "late1", "running", "t0000", "t1499"} {
		if _, err := s.Get(ctx, id); err != nil {
			t.Fatalf("%s went with the sweep: %v", id, err)
		}
	}
	// Their index entries went with them: a second sweep reads the 3 kept.
	records, _ = rc.reads(func() {
		if n, err := tasks.Sweep(ctx, s, now, retention); err != nil || n != 0 {
			t.Fatalf("second sweep: %d deleted, %v", n, err)
		}
	})
	if records > 3 {
		t.Fatalf("the second sweep read %d task records, want the 3 old ones kept", records)
	}
	if r, err := s.Reconcile(ctx); err != nil || r.Orphans != 0 {
		t.Fatalf("reconcile after the sweeps: %+v, %v; want no orphan entries", r, err)
	}
}
