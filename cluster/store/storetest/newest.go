package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// testListNewestPages: pages of the newest tasks, followed with their
// cursor, list every task once, in order, whatever the page size, across
// the hour, minute and second boundaries a store may bucket times by, with
// many tasks submitted at the same instant (ordered by id), tasks without
// a submission time, a filter keeping a third of them, one keeping none, a
// deleted task, and a task whose submission time an update changed.
func testListNewestPages(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 3, 4, 9, 59, 58, 900_000_000, time.UTC)
	// Offsets around t0 (09:59:58.9): within one second, across the
	// second, the minute (10:00:00), the hour, the day; and far back.
	offsets := []time.Duration{
		0, 0, 0, 0, // four at the same instant
		time.Nanosecond, 50 * time.Millisecond, 99 * time.Millisecond, // same second
		100 * time.Millisecond, 100 * time.Millisecond, 1100 * time.Millisecond, // 09:59:59 and 10:00:00
		1100*time.Millisecond + time.Nanosecond, 61 * time.Second, 3601 * time.Second,
		-time.Second, -time.Minute, -time.Hour, -24 * time.Hour, -30 * 24 * time.Hour,
	}
	var want []store.Position
	for i := range 3 * len(offsets) {
		task := NewTask(fmt.Sprintf("n%03d", i*7%(3*len(offsets))), "m1") // ids not in time order
		if i%3 == 0 {
			task.Spec.Kind = "rare"
		}
		if i == 5 {
			task.Status.SubmittedAt = nil // no submission time: the epoch
		} else {
			task.Status.SubmittedAt = timestamppb.New(t0.Add(offsets[i%len(offsets)]))
		}
		mustCreate(t, s, task)
		want = append(want, store.PositionOf(task))
	}
	// One deleted, one moved to the newest place.
	gone, err := s.Get(ctx(t), want[4].ID)
	if err != nil {
		t.Fatal(err)
	}
	gone = setState(t, s, gone, "m1", messages.TaskState_TASK_STATE_COMPLETED)
	if err := s.Delete(ctx(t), want[4].ID, gone.Revision); err != nil {
		t.Fatal(err)
	}
	moved, err := s.Get(ctx(t), want[9].ID)
	if err != nil {
		t.Fatal(err)
	}
	next := proto.Clone(moved.Task).(*messages.Task)
	next.Status.SubmittedAt = timestamppb.New(t0.Add(2 * time.Hour))
	if _, err := s.Update(ctx(t), next, moved.Revision); err != nil {
		t.Fatal(err)
	}
	want[9] = store.PositionOf(next)
	want = slices.Delete(want, 4, 5)
	slices.SortFunc(want, func(a, b store.Position) int {
		if store.NewestFirst.Before(a, b) {
			return -1
		}
		return 1
	})
	wantIDs := make([]string, len(want))
	for i, p := range want {
		wantIDs[i] = p.ID
	}
	var rare []string
	for _, id := range wantIDs {
		rec, err := s.Get(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Task.GetSpec().GetKind() == "rare" {
			rare = append(rare, id)
		}
	}
	for _, tc := range []struct {
		name  string
		f     store.Filter
		limit int
		want  []string
	}{
		{"pages of 1", store.Filter{}, 1, wantIDs},
		{"pages of 4", store.Filter{}, 4, wantIDs},
		{"pages of 7", store.Filter{}, 7, wantIDs},
		{"one page", store.Filter{}, 1000, wantIDs},
		{"kind, pages of 2", store.Filter{Kind: "rare"}, 2, rare},
		{"kind matching none", store.Filter{Kind: "none"}, 3, nil},
	} {
		f := tc.f
		f.Order, f.Limit = store.NewestFirst, tc.limit
		got, _ := followPages(t, s, tc.name+": ", f, len(wantIDs)+2)
		if !equal(got, tc.want) {
			t.Errorf("%s: listed\n%v\nwant\n%v", tc.name, got, tc.want)
		}
	}
}

// followPages lists f's pages (f.Limit records each, 0: one page of every
// record), each after the last record of the one before, until a page
// comes back short or maxPages are listed, and returns the ids listed and
// whether the last page came back short. An error or a page longer than
// the limit fails the test (its message starts with name).
func followPages(t *testing.T, s store.Store, name string, f store.Filter, maxPages int) ([]string, bool) {
	t.Helper()
	var got []string
	for range maxPages {
		recs, err := s.List(ctx(t), f)
		if err != nil {
			t.Fatalf("%s%v", name, err)
		}
		if f.Limit > 0 && len(recs) > f.Limit {
			t.Fatalf("%sa page of %d records, limit %d", name, len(recs), f.Limit)
		}
		got = append(got, ids(recs)...)
		if f.Limit == 0 || len(recs) < f.Limit {
			return got, true
		}
		at := store.PositionOf(recs[len(recs)-1].Task)
		f.After = &at
	}
	return got, false
}
