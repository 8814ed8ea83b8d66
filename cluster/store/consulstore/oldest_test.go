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

// createFinished creates n completed tasks, prefix0000 on, the i-th
// submitted at submitted(i) and finished a millisecond later.
func createFinished(t *testing.T, s store.Store, n int, prefix string, submitted func(i int) time.Time) {
	t.Helper()
	storetest.CreateMany(t, s, n, func(i int) *messages.Task {
		task := storetest.NewTask(fmt.Sprintf("%s%04d", prefix, i), "m1")
		task.Status.SubmittedAt = timestamppb.New(submitted(i))
		task.Status.State = messages.TaskState_TASK_STATE_COMPLETED
		task.Status.FinishedAt = timestamppb.New(submitted(i).Add(time.Millisecond))
		return task
	})
}

// countedStore is an indexed store of cluster on a fresh Consul agent,
// through a readCounter.
func countedStore(t *testing.T, cluster string) (*readCounter, *consulstore.Store) {
	t.Helper()
	rc, client := newReadCounter(t, testconsul.Start(t, testconsul.Options{}), cluster)
	return rc, indexedStore(t, client, consulstore.DefaultConfig(cluster))
}

// TestSweepOfADenseHourListsItOnce: the pages of a sweep of 3000 tasks
// submitted within one hour (2000 in a burst of 10 s, then one a second)
// list the hour's index entries about once, not once per page of 512: each
// page after the first starts at its cursor's second and lists seconds
// (in the burst) or minutes from there (listing the whole hour again for
// each page made a sweep's listings grow with the square of the hour's
// tasks: 1,000,000 submitted within an hour, 2,000 pages of up to 80 MB of
// keys each; issue #23).
// The sweep then deletes them all, and only them.
func TestSweepOfADenseHourListsItOnce(t *testing.T) {
	rc, s := countedStore(t, "dense")
	ctx := context.Background()
	const n, retention = 3000, 7 * 24 * time.Hour
	now := time.Now()
	at := now.Add(-8 * 24 * time.Hour).Truncate(time.Hour).Add(5 * time.Minute)
	const burst = 2000
	createFinished(t, s, n, "d", func(i int) time.Time {
		if i >= burst {
			return at.Add(5*time.Minute + time.Duration(i-burst)*time.Second)
		}
		return at.Add(time.Duration(i) * 5 * time.Millisecond) // 200 a second
	})
	createMany(t, s, 10, now.Add(-time.Minute)) // recent: kept
	// The sweep's pages, read without deleting: after the first (the hour
	// whole), each lists its 512 entries and a few seconds more of the
	// burst (200 entries each), or, past it, the rest of its cursor's
	// minute and those of the minutes it reaches into (60 entries each).
	const pageMax = 512 + 3*200
	var after *store.Position
	listed := 0
	for pg := 0; ; pg++ {
		var recs []store.Record
		var err error
		e0 := rc.entries.Load()
		rc.reads(func() { recs, err = s.List(ctx, tasks.Candidates(now, retention, after)) })
		entries := rc.entries.Load() - e0
		if err != nil {
			t.Fatal(err)
		}
		if pg > 0 && entries > pageMax {
			t.Fatalf("page %d of the sweep listed %d index entries, want at most %d (not the whole hour again)", pg, entries, pageMax)
		}
		if len(recs) > 0 && recs[0].Task.GetSpec().GetId() != fmt.Sprintf("d%04d", listed) {
			t.Fatalf("page %d starts with %s, want d%04d", pg, recs[0].Task.GetSpec().GetId(), listed)
		}
		listed += len(recs)
		if len(recs) < 512 {
			break
		}
		p := store.PositionOf(recs[len(recs)-1].Task)
		after = &p
	}
	if listed != n {
		t.Fatalf("the sweep's pages listed %d tasks, want %d", listed, n)
	}
	if deleted, err := tasks.Sweep(ctx, s, now, retention); err != nil || deleted != n {
		t.Fatalf("the sweep deleted %d tasks (%v), want %d", deleted, err, n)
	}
	if left, err := s.List(ctx, store.Filter{}); err != nil || len(left) != 10 {
		t.Fatalf("after the sweep %d tasks are left (%v), want the 10 recent ones", len(left), err)
	}
	if r, err := s.Reconcile(ctx); err != nil || r.Orphans != 0 {
		t.Fatalf("reconcile after the sweep: %+v, %v; want no orphan entries", r, err)
	}
}

// TestSweepDeletesInSharedTransactions: a sweep deleting 600 expired tasks
// sends their deletes together, so that the write batcher commits several
// in one transaction: far fewer requests than tasks (one delete at a time,
// a sweep deleted about 440 tasks/s at 1,000,000 stored, fewer than the
// cluster stored; issue #23).
func TestSweepDeletesInSharedTransactions(t *testing.T) {
	rc, s := countedStore(t, "shared")
	ctx := context.Background()
	const n, retention = 600, 7 * 24 * time.Hour
	now := time.Now()
	at := now.Add(-8 * 24 * time.Hour)
	createFinished(t, s, n, "x", func(i int) time.Time { return at.Add(time.Duration(i) * time.Second) })
	var deleted int
	var err error
	_, requests := rc.reads(func() { deleted, err = tasks.Sweep(ctx, s, now, retention) })
	t.Logf("a sweep deleting %d tasks: %d requests", n, requests)
	if err != nil || deleted != n {
		t.Fatalf("the sweep deleted %d tasks (%v), want %d", deleted, err, n)
	}
	if requests > 2*n/3 {
		t.Fatalf("the sweep of %d tasks made %d requests to Consul, want at most %d (deletes sharing transactions)", n, requests, 2*n/3)
	}
	if left, err := s.List(ctx, store.Filter{}); err != nil || len(left) != 0 {
		t.Fatalf("after the sweep %d tasks are left (%v), want none", len(left), err)
	}
}
