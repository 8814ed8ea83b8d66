package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// testListOldestBefore: the retention sweep's listing (OldestFirst with
// SubmittedBefore) lists, in pages followed with their cursor, exactly the
// tasks submitted strictly before the bound, oldest first, tasks submitted
// at the same instant by id: none from an empty store, none at the bound
// itself (four tasks stand exactly there), none after it, across second,
// minute, hour and day boundaries, with a state filter and a deleted task.
func testListOldestBefore(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 3, 4, 9, 59, 58, 900_000_000, time.UTC)
	sweep := func(f store.Filter, limit int) []string {
		t.Helper()
		f.Order, f.Limit = store.OldestFirst, limit
		got, complete := followPages(t, s, "", f, 201)
		if !complete {
			t.Fatalf("more than 200 pages: %v", got)
		}
		return got
	}
	if got := sweep(store.Filter{SubmittedBefore: t0}, 5); len(got) != 0 {
		t.Fatalf("an empty store listed %v", got)
	}

	offsets := []time.Duration{
		0, 0, 0, 0, // four at the bound's instant
		time.Nanosecond, time.Second, time.Hour, // after it
		-time.Nanosecond, -time.Nanosecond, -time.Nanosecond, // just before, at one instant
		-100 * time.Millisecond, -time.Second, -59 * time.Second, -time.Hour,
		-25 * time.Hour, -8 * 24 * time.Hour, -30 * 24 * time.Hour, -30 * 24 * time.Hour,
	}
	var all []store.Position
	var finished []string
	for i, off := range offsets {
		task := NewTask(fmt.Sprintf("o%02d", (i*7)%len(offsets)), "m1") // ids not in time order
		task.Status.SubmittedAt = timestamppb.New(t0.Add(off))
		if i%3 != 0 {
			task.Status.State = messages.TaskState_TASK_STATE_COMPLETED
		}
		mustCreate(t, s, task)
		all = append(all, store.PositionOf(task))
	}
	// One old finished task deleted: gone from the listing too.
	gone, err := s.Get(ctx(t), all[16].ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx(t), all[16].ID, gone.Revision); err != nil {
		t.Fatal(err)
	}
	all = slices.Delete(all, 16, 17)
	slices.SortFunc(all, func(a, b store.Position) int {
		if store.OldestFirst.Before(a, b) {
			return -1
		}
		return 1
	})
	before := func(bound time.Time) []string {
		var out []string
		for _, p := range all {
			if p.SubmittedAt.Before(bound) {
				out = append(out, p.ID)
			}
		}
		return out
	}
	for _, p := range all {
		rec, err := s.Get(ctx(t), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if store.Terminal(rec.Task.GetStatus().GetState()) && p.SubmittedAt.Before(t0) {
			finished = append(finished, p.ID)
		}
	}
	done := []messages.TaskState{messages.TaskState_TASK_STATE_COMPLETED}
	for _, tc := range []struct {
		name  string
		f     store.Filter
		limit int
		want  []string
	}{
		{"before the bound, pages of 1", store.Filter{SubmittedBefore: t0}, 1, before(t0)},
		{"before the bound, pages of 3", store.Filter{SubmittedBefore: t0}, 3, before(t0)},
		{"before the bound, one page", store.Filter{SubmittedBefore: t0}, 0, before(t0)},
		{"a nanosecond later: the four at the bound too", store.Filter{SubmittedBefore: t0.Add(time.Nanosecond)}, 2, before(t0.Add(time.Nanosecond))},
		{"finished only, pages of 2", store.Filter{SubmittedBefore: t0, States: done}, 2, finished},
		{"before every task", store.Filter{SubmittedBefore: t0.Add(-31 * 24 * time.Hour)}, 4, nil},
		{"no bound: every task", store.Filter{}, 5, before(t0.Add(2 * time.Hour))},
	} {
		if got := sweep(tc.f, tc.limit); !equal(got, tc.want) {
			t.Errorf("%s: listed\n%v\nwant\n%v", tc.name, got, tc.want)
		}
	}
	if n := len(before(t0)); n != 10 || len(before(t0.Add(time.Nanosecond))) != 14 {
		t.Fatalf("the fixture lost its shape: %d before the bound", n)
	}
}
