package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
)

func testJobRecords(t *testing.T, s store.Store) {
	c := ctx(t)
	if _, err := s.GetJob(c, "j1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetJob of a missing job = %v, want ErrNotFound", err)
	}
	first, err := s.PutJob(c, &messages.Job{Id: "j1", Strategy: "one_for_all"}, 0)
	if err != nil || first.Revision == 0 {
		t.Fatalf("PutJob(create) = %v@%d, %v", first.Job, first.Revision, err)
	}
	if _, err := s.PutJob(c, &messages.Job{Id: "j1"}, 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("creating an existing job record = %v, want ErrConflict", err)
	}
	got, err := s.GetJob(c, "j1")
	if err != nil || got.Revision != first.Revision || !proto.Equal(got.Job, first.Job) {
		t.Fatalf("GetJob = %v@%d, %v; want %v@%d", got.Job, got.Revision, err, first.Job, first.Revision)
	}
	next := proto.Clone(got.Job).(*messages.Job)
	next.Restarts = append(next.Restarts, &messages.JobRestart{Task: "t1", Error: "boom"})
	second, err := s.PutJob(c, next, got.Revision)
	if err != nil || second.Revision <= first.Revision {
		t.Fatalf("PutJob(update) = @%d, %v; want a revision above %d", second.Revision, err, first.Revision)
	}
	if _, err := s.PutJob(c, next, got.Revision); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutJob at a stale revision = %v, want ErrConflict", err)
	}
	if _, err := s.PutJob(c, &messages.Job{Id: "j2"}, 0); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListJobs(c)
	if err != nil || len(all) != 2 || all[0].Job.GetId() != "j1" || all[1].Job.GetId() != "j2" || len(all[0].Job.GetRestarts()) != 1 {
		t.Fatalf("ListJobs = %v, %v; want j1 (one restart), j2", all, err)
	}
	if err := s.DeleteJob(c, "j1", first.Revision); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("DeleteJob at a stale revision = %v, want ErrConflict", err)
	}
	if err := s.DeleteJob(c, "j1", second.Revision); err != nil {
		t.Fatalf("DeleteJob = %v", err)
	}
	if err := s.DeleteJob(c, "j1", second.Revision); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteJob of a deleted job = %v, want ErrNotFound", err)
	}
	if _, err := s.GetJob(c, "j1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetJob after delete = %v, want ErrNotFound", err)
	}
	if recs, err := s.List(c, store.Filter{}); err != nil || len(recs) != 0 {
		t.Fatalf("job records show up as tasks: %v, %v", recs, err)
	}
}

// testJobConcurrentPut: writers racing on one revision, as two tasks of a
// job failing at once do; exactly one wins.
func testJobConcurrentPut(t *testing.T, s store.Store) {
	c := ctx(t)
	base, err := s.PutJob(c, &messages.Job{Id: "j"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := proto.Clone(base.Job).(*messages.Job)
			j.Restarts = append(j.Restarts, &messages.JobRestart{Task: "t"})
			_, errs[i] = s.PutJob(c, j, base.Revision)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("PutJob = %v, want nil or ErrConflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent PutJob calls at one revision succeeded, want 1", won)
	}
}

// testListByJob: a job's tasks are listed, however many, and a deleted
// task leaves the listing.
func testListByJob(t *testing.T, s store.Store) {
	c := ctx(t)
	const n = 70 // more than a store may read one by one
	var last store.Record
	for i := range n {
		task := NewTask(fmt.Sprintf("big-%03d", i), "m1")
		task.Spec.JobId = "big"
		last = mustCreate(t, s, task)
	}
	small := NewTask("small-1", "m2")
	small.Spec.JobId = "small"
	mustCreate(t, s, small)
	mustCreate(t, s, NewTask("alone", "m1"))
	recs, err := s.List(c, store.Filter{JobID: "big"})
	if err != nil || len(recs) != n || recs[0].Task.GetSpec().GetId() != "big-000" {
		t.Fatalf("List(job big) = %d records, %v; want %d in id order", len(recs), err, n)
	}
	if recs, err := s.List(c, store.Filter{JobID: "small"}); err != nil || !equal(ids(recs), []string{"small-1"}) {
		t.Fatalf("List(job small) = %v, %v", ids(recs), err)
	}
	if recs, err := s.List(c, store.Filter{JobID: "big", Limit: 3}); err != nil || len(recs) != 3 {
		t.Fatalf("List(job big, limit 3) = %d records, %v", len(recs), err)
	}
	done := setState(t, s, last, "m1", messages.TaskState_TASK_STATE_COMPLETED)
	if err := s.Delete(c, done.Task.GetSpec().GetId(), done.Revision); err != nil {
		t.Fatal(err)
	}
	if recs, err := s.List(c, store.Filter{JobID: "big"}); err != nil || len(recs) != n-1 {
		t.Fatalf("List(job big) after a delete = %d records, %v; want %d", len(recs), err, n-1)
	}
}
