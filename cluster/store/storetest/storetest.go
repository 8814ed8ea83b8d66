// Package storetest is the conformance suite every store.Store must pass.
// Each implementation's tests call Run with a constructor of fresh stores.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
)

// NewTask returns a pending task with the given id, owned by owner.
func NewTask(id, owner string) *messages.Task {
	return &messages.Task{
		Spec:   &messages.TaskSpec{Id: id, Kind: "echo", Payload: []byte(`{"x":1}`)},
		Status: &messages.TaskStatus{State: messages.TaskState_TASK_STATE_PENDING, Owner: owner},
	}
}

// Run runs the suite; open returns a new, empty store (closed by Run).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateIsIdempotent", testCreateIdempotent},
		{"GetMissing", testGetMissing},
		{"UpdateChecksRevision", testUpdateCAS},
		{"UpdateMissing", testUpdateMissing},
		{"RevisionsGrow", testRevisionsGrow},
		{"OwnerIndex", testOwnerIndex},
		{"ListFilters", testListFilters},
		{"ListPages", testListPages},
		{"ListNewestPages", testListNewestPages},
		{"ListOldestBefore", testListOldestBefore},
		{"WatchWakesOnChange", testWatch},
		{"WatchEndsWithContext", testWatchCtx},
		{"ConcurrentCreateOneWins", testConcurrentCreate},
		{"ConcurrentUpdateOneWins", testConcurrentUpdate},
		{"DeleteChecksRevision", testDelete},
		{"ClosedStore", testClosed},
		{"JobRecords", testJobRecords},
		{"ListByJob", testListByJob},
		{"JobRecordConcurrentPutOneWins", testJobConcurrentPut},
		{"ListChildJobs", testListChildJobs},
		{"ScheduleRecords", testScheduleRecords},
		{"Exists", testExists},
		{"KeepsNoReference", testKeepsNoReference},
		{"CountsMatchScan", testCountsMatchScan},
		{"CountsConcurrentWriters", testCountsConcurrentWriters},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustCreate(t *testing.T, s store.Store, task *messages.Task) store.Record {
	t.Helper()
	rec, created, err := s.Create(ctx(t), task)
	if err != nil || !created {
		t.Fatalf("Create(%s) = created %v, %v; want created", task.GetSpec().GetId(), created, err)
	}
	return rec
}

func testCreateIdempotent(t *testing.T, s store.Store) {
	first := mustCreate(t, s, NewTask("a", "m1"))
	other := NewTask("a", "m2")
	other.Spec.Payload = []byte(`{"x":2}`)
	again, created, err := s.Create(ctx(t), other)
	if err != nil || created {
		t.Fatalf("second Create = created %v, %v; want existing record", created, err)
	}
	if again.Revision != first.Revision || !proto.Equal(again.Task, first.Task) {
		t.Fatalf("second Create returned %v@%d, want the first %v@%d", again.Task, again.Revision, first.Task, first.Revision)
	}
}

// testExists checks store.Prober, for stores that have it.
func testExists(t *testing.T, s store.Store) {
	p, ok := s.(store.Prober)
	if !ok {
		t.Skipf("%T has no Exists (store.Prober is optional)", s)
	}
	if found, err := p.Exists(ctx(t), "e1"); err != nil || found {
		t.Fatalf("Exists(missing) = %v, %v; want false", found, err)
	}
	mustCreate(t, s, NewTask("e1", "m1"))
	if found, err := p.Exists(ctx(t), "e1"); err != nil || !found {
		t.Fatalf("Exists(stored) = %v, %v; want true", found, err)
	}
}

func testGetMissing(t *testing.T, s store.Store) {
	if _, err := s.Get(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(missing) error = %v, want ErrNotFound", err)
	}
}

func testUpdateCAS(t *testing.T, s store.Store) {
	rec := mustCreate(t, s, NewTask("a", "m1"))
	next := proto.Clone(rec.Task).(*messages.Task)
	next.Status.State = messages.TaskState_TASK_STATE_RUNNING
	updated, err := s.Update(ctx(t), next, rec.Revision)
	if err != nil {
		t.Fatalf("Update at current revision: %v", err)
	}
	if updated.Revision <= rec.Revision {
		t.Fatalf("revision after update %d, want > %d", updated.Revision, rec.Revision)
	}
	stale := proto.Clone(rec.Task).(*messages.Task)
	stale.Status.State = messages.TaskState_TASK_STATE_COMPLETED
	if _, err := s.Update(ctx(t), stale, rec.Revision); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Update at stale revision error = %v, want ErrConflict", err)
	}
	got, err := s.Get(ctx(t), "a")
	if err != nil || got.Task.GetStatus().GetState() != messages.TaskState_TASK_STATE_RUNNING || got.Revision != updated.Revision {
		t.Fatalf("after a rejected stale write Get = %v@%d, %v; want running@%d", got.Task, got.Revision, err, updated.Revision)
	}
}

func testUpdateMissing(t *testing.T, s store.Store) {
	if _, err := s.Update(ctx(t), NewTask("ghost", "m1"), 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Update(missing) error = %v, want ErrNotFound", err)
	}
}

func testRevisionsGrow(t *testing.T, s store.Store) {
	var last uint64
	for i := 0; i < 5; i++ {
		rec := mustCreate(t, s, NewTask(fmt.Sprintf("t%d", i), "m1"))
		if rec.Revision <= last {
			t.Fatalf("revision %d after %d: revisions must grow across the store", rec.Revision, last)
		}
		last = rec.Revision
	}
}

func setState(t *testing.T, s store.Store, rec store.Record, owner string, st messages.TaskState) store.Record {
	t.Helper()
	next := proto.Clone(rec.Task).(*messages.Task)
	next.Status.Owner, next.Status.State = owner, st
	out, err := s.Update(ctx(t), next, rec.Revision)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	return out
}

func ids(recs []store.Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Task.GetSpec().GetId())
	}
	return out
}

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func testOwnerIndex(t *testing.T, s store.Store) {
	a := mustCreate(t, s, NewTask("a", "m1"))
	mustCreate(t, s, NewTask("b", "m1"))
	c := mustCreate(t, s, NewTask("c", "m2"))
	list := func(owner string) []string {
		recs, err := s.List(ctx(t), store.Filter{Owner: owner})
		if err != nil {
			t.Fatalf("List(owner %s): %v", owner, err)
		}
		return ids(recs)
	}
	if got := list("m1"); !equal(got, []string{"a", "b"}) {
		t.Fatalf("owner m1 has %v, want [a b]", got)
	}
	setState(t, s, a, "m2", messages.TaskState_TASK_STATE_RUNNING) // claimed by m2
	setState(t, s, c, "m2", messages.TaskState_TASK_STATE_COMPLETED)
	if got := list("m1"); !equal(got, []string{"b"}) {
		t.Fatalf("after a moved to m2, owner m1 has %v, want [b]", got)
	}
	if got := list("m2"); !equal(got, []string{"a"}) {
		t.Fatalf("owner m2 has %v, want [a] (c is finished)", got)
	}
}

func testListFilters(t *testing.T, s store.Store) {
	for i, st := range []messages.TaskState{
		messages.TaskState_TASK_STATE_PENDING, messages.TaskState_TASK_STATE_FAILED,
		messages.TaskState_TASK_STATE_COMPLETED, messages.TaskState_TASK_STATE_RETRYING,
	} {
		rec := mustCreate(t, s, NewTask(fmt.Sprintf("t%d", i), "m1"))
		if st != messages.TaskState_TASK_STATE_PENDING {
			setState(t, s, rec, "m1", st)
		}
	}
	cases := []struct {
		f    store.Filter
		want []string
	}{
		{store.Filter{}, []string{"t0", "t1", "t2", "t3"}},
		{store.Filter{States: []messages.TaskState{messages.TaskState_TASK_STATE_FAILED}}, []string{"t1"}},
		{store.Filter{Unfinished: true}, []string{"t0", "t3"}},
		{store.Filter{Limit: 2}, []string{"t0", "t1"}},
	}
	for _, c := range cases {
		recs, err := s.List(ctx(t), c.f)
		if err != nil || !equal(ids(recs), c.want) {
			t.Errorf("List(%+v) = %v, %v; want %v", c.f, ids(recs), err, c.want)
		}
	}
}

func testWatch(t *testing.T, s store.Store) {
	rec := mustCreate(t, s, NewTask("a", "m1"))
	got := make(chan store.Record, 1)
	errc := make(chan error, 1)
	go func() {
		r, err := s.Watch(ctx(t), "a", rec.Revision)
		if err != nil {
			errc <- err
			return
		}
		got <- r
	}()
	updated := setState(t, s, rec, "m1", messages.TaskState_TASK_STATE_RUNNING)
	select {
	case r := <-got:
		if r.Revision < updated.Revision {
			t.Fatalf("Watch returned revision %d, want >= %d", r.Revision, updated.Revision)
		}
	case err := <-errc:
		t.Fatalf("Watch: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("Watch did not wake up within 20s of an update")
	}
	// An old revision answers at once.
	r, err := s.Watch(ctx(t), "a", 0)
	if err != nil || r.Revision != updated.Revision {
		t.Fatalf("Watch(after 0) = %d, %v; want %d at once", r.Revision, err, updated.Revision)
	}
}

func testWatchCtx(t *testing.T, s store.Store) {
	rec := mustCreate(t, s, NewTask("a", "m1"))
	c, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Watch(c, "a", rec.Revision); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Watch with no change error = %v, want context.DeadlineExceeded", err)
	}
}

func testConcurrentCreate(t *testing.T, s store.Store) {
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	revs := map[uint64]bool{}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, c, err := s.Create(ctx(t), NewTask("same", "m1"))
			if err != nil {
				t.Errorf("Create: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			revs[rec.Revision] = true
			if c {
				created++
			}
		}()
	}
	wg.Wait()
	if created != 1 || len(revs) != 1 {
		t.Fatalf("%d concurrent creates of one id: %d created, %d distinct revisions; want 1 and 1", n, created, len(revs))
	}
}

func testConcurrentUpdate(t *testing.T, s store.Store) {
	rec := mustCreate(t, s, NewTask("a", "m1"))
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			next := proto.Clone(rec.Task).(*messages.Task)
			next.Status.Owner = fmt.Sprintf("m%d", i)
			next.Status.Epoch = 1
			_, err := s.Update(ctx(t), next, rec.Revision)
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("Update: %v, want nil or ErrConflict", err)
			}
		}(i)
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d claims at one revision: %d won, want exactly 1", n, wins)
	}
}

func testDelete(t *testing.T, s store.Store) {
	rec := mustCreate(t, s, NewTask("a", "m1"))
	done := setState(t, s, rec, "m1", messages.TaskState_TASK_STATE_COMPLETED)
	if err := s.Delete(ctx(t), "a", rec.Revision); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Delete at a stale revision: %v, want ErrConflict", err)
	}
	if err := s.Delete(ctx(t), "a", done.Revision); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx(t), "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx(t), "a", done.Revision); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Delete: %v, want ErrNotFound", err)
	}
	// A pending task's owner index entry goes with it.
	b := mustCreate(t, s, NewTask("b", "m1"))
	if err := s.Delete(ctx(t), "b", b.Revision); err != nil {
		t.Fatal(err)
	}
	if recs, err := s.List(ctx(t), store.Filter{Owner: "m1"}); err != nil || len(recs) != 0 {
		t.Fatalf("owner index after Delete: %v, %v", ids(recs), err)
	}
}

func testClosed(t *testing.T, s store.Store) {
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Get(ctx(t), "a"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Get after Close error = %v, want ErrClosed", err)
	}
}

// testKeepsNoReference: a store keeps no reference to the tasks passed to
// it or returned by it (see store.Store): changing them afterwards changes
// nothing stored, nor what a waiter or a reader gets.
func testKeepsNoReference(t *testing.T, s store.Store) {
	in := NewTask("ref", "m1")
	rec := mustCreate(t, s, in)
	in.Status.Owner, in.Spec.Payload = "changed-input", []byte("x")
	rec.Task.Status.Owner = "changed-record"
	got, err := s.Get(ctx(t), "ref")
	if err != nil || got.Task.GetStatus().GetOwner() != "m1" || string(got.Task.GetSpec().GetPayload()) != `{"x":1}` {
		t.Fatalf("after changing the created task: %v, %v; want owner m1 and the payload as stored", got.Task, err)
	}
	next := proto.Clone(got.Task).(*messages.Task)
	next.Status.State = messages.TaskState_TASK_STATE_RUNNING
	upd, err := s.Update(ctx(t), next, got.Revision)
	if err != nil {
		t.Fatal(err)
	}
	next.Status.State, upd.Task.Status.State = messages.TaskState_TASK_STATE_FAILED, messages.TaskState_TASK_STATE_FAILED
	w, err := s.Watch(ctx(t), "ref", got.Revision)
	if err != nil || w.Task.GetStatus().GetState() != messages.TaskState_TASK_STATE_RUNNING {
		t.Fatalf("Watch after changing the updated task: %v, %v; want running", w.Task, err)
	}
	w.Task.Status.Owner = "changed-watch"
	if again, err := s.Get(ctx(t), "ref"); err != nil || again.Task.GetStatus().GetState() != messages.TaskState_TASK_STATE_RUNNING || again.Task.GetStatus().GetOwner() != "m1" {
		t.Fatalf("Get after changing what Watch returned: %v, %v; want running, owned by m1", again.Task, err)
	}
}
