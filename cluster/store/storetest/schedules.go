package storetest

import (
	"errors"
	"testing"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
)

// testScheduleRecords: schedules are check-and-set records under keys of
// their own; every store implements store.Schedules.
func testScheduleRecords(t *testing.T, st store.Store) {
	s, ok := st.(store.Schedules)
	if !ok {
		t.Fatalf("%T does not implement store.Schedules", st)
	}
	c := ctx(t)
	if _, err := s.GetSchedule(c, "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSchedule of a missing schedule = %v, want ErrNotFound", err)
	}
	first, err := s.PutSchedule(c, &messages.Schedule{Id: "s1", Cron: "@hourly"}, 0)
	if err != nil || first.Revision == 0 {
		t.Fatalf("PutSchedule(create) = %v@%d, %v", first.Schedule, first.Revision, err)
	}
	if _, err := s.PutSchedule(c, &messages.Schedule{Id: "s1"}, 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("creating an existing schedule = %v, want ErrConflict", err)
	}
	next := proto.Clone(first.Schedule).(*messages.Schedule)
	next.Runs = 1
	second, err := s.PutSchedule(c, next, first.Revision)
	if err != nil || second.Revision <= first.Revision {
		t.Fatalf("PutSchedule(update) = @%d, %v; want a revision above %d", second.Revision, err, first.Revision)
	}
	if _, err := s.PutSchedule(c, next, first.Revision); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutSchedule at a stale revision = %v, want ErrConflict", err)
	}
	if _, err := s.PutSchedule(c, &messages.Schedule{Id: "s0"}, 0); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSchedule(c, "s1")
	if err != nil || got.Revision != second.Revision || !proto.Equal(got.Schedule, next) {
		t.Fatalf("GetSchedule = %v@%d, %v; want %v@%d", got.Schedule, got.Revision, err, next, second.Revision)
	}
	all, err := s.ListSchedules(c)
	if err != nil || len(all) != 2 || all[0].Schedule.GetId() != "s0" || all[1].Schedule.GetRuns() != 1 {
		t.Fatalf("ListSchedules = %v, %v; want s0, s1 (one run)", all, err)
	}
	if err := s.DeleteSchedule(c, "s1", first.Revision); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("DeleteSchedule at a stale revision = %v, want ErrConflict", err)
	}
	if err := s.DeleteSchedule(c, "s1", second.Revision); err != nil {
		t.Fatalf("DeleteSchedule = %v", err)
	}
	if err := s.DeleteSchedule(c, "s1", second.Revision); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteSchedule of a deleted schedule = %v, want ErrNotFound", err)
	}
	if jobs, err := st.ListJobs(c); err != nil || len(jobs) != 0 {
		t.Fatalf("schedules show up as jobs: %v, %v", jobs, err)
	}
	if recs, err := st.List(c, store.Filter{}); err != nil || len(recs) != 0 {
		t.Fatalf("schedules show up as tasks: %v, %v", recs, err)
	}
}
