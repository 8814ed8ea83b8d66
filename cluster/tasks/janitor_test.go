package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestSweepPagesPastKeptTasks: one sweep deletes every due task although
// more than a page of older tasks that finished recently (kept) come first
// in its listing, and more than a page are due; it deletes the record of a
// job past retention left without tasks, and keeps the record of one
// whose task is kept and of a job written recently.
func TestSweepPagesPastKeptTasks(t *testing.T) {
	s, err := boltstore.Open(boltstore.DefaultConfig(filepath.Join(t.TempDir(), "tasks.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	now := time.Now()
	const retention = 7 * 24 * time.Hour
	const kept, due, recent = 600, 1100, 10
	create := func(n int, prefix, job string, submitted, finished time.Time) {
		storetest.CreateMany(t, s, n, func(i int) *messages.Task {
			task := storetest.NewTask(fmt.Sprintf("%s%04d", prefix, i), "")
			task.Spec.JobId = job
			task.Status.SubmittedAt = timestamppb.New(submitted.Add(time.Duration(i) * time.Second))
			task.Status.State = messages.TaskState_TASK_STATE_COMPLETED
			task.Status.FinishedAt = timestamppb.New(finished)
			return task
		})
	}
	create(kept, "kept", "live", now.Add(-10*24*time.Hour), now.Add(-time.Hour))
	create(due, "due", "gone", now.Add(-9*24*time.Hour), now.Add(-8*24*time.Hour))
	create(recent, "new", "", now.Add(-time.Hour), now.Add(-time.Minute))
	for _, job := range []struct {
		id      string
		updated time.Time
	}{{"live", now.Add(-8 * 24 * time.Hour)}, {"gone", now.Add(-8 * 24 * time.Hour)}, {"fresh", now}} {
		if _, err := s.PutJob(ctx, &messages.Job{Id: job.id, UpdatedAt: timestamppb.New(job.updated)}, 0); err != nil {
			t.Fatal(err)
		}
	}

	n, err := tasks.Sweep(ctx, s, now, retention)
	if err != nil || n != due+1 {
		t.Fatalf("Sweep = %d, %v; want %d deleted (%d tasks and a job record)", n, err, due+1, due)
	}
	left, err := s.List(ctx, store.Filter{})
	if err != nil || len(left) != kept+recent {
		t.Fatalf("%d tasks left (%v), want %d", len(left), err, kept+recent)
	}
	for _, r := range left {
		if id := r.Task.GetSpec().GetId(); id[:3] == "due" {
			t.Fatalf("due task %s left", id)
		}
	}
	for id, want := range map[string]error{"live": nil, "fresh": nil, "gone": store.ErrNotFound} {
		if _, err := s.GetJob(ctx, id); !errors.Is(err, want) && err != want {
			t.Fatalf("job record %s after the sweep: %v, want %v", id, err, want)
		}
	}
	if n, err := tasks.Sweep(ctx, s, now, retention); err != nil || n != 0 {
		t.Fatalf("second Sweep = %d, %v; want nothing more", n, err)
	}
}

// Candidates at noon with a week's retention: the finished tasks submitted
// before noon a week earlier, oldest first, a page at a time.
func ExampleCandidates() {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f := tasks.Candidates(now, 7*24*time.Hour, nil)
	fmt.Println(f.SubmittedBefore, f.Order == store.OldestFirst, len(f.States), f.Limit)
	// Output: 2026-11-24 12:00:00 +0000 UTC true 3 512
}
