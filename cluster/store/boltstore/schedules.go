package boltstore

import (
	"context"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
)

// bucketSchedules holds the recurring schedules: id -> revision + Schedule.
var bucketSchedules = []byte("schedules")

var scheduleRecords = records[*messages.Schedule]{
	bucket: bucketSchedules,
	what:   "schedule",
	fresh:  func() *messages.Schedule { return &messages.Schedule{} },
	id:     (*messages.Schedule).GetId,
}

// GetSchedule implements store.Schedules.
func (s *Store) GetSchedule(ctx context.Context, id string) (store.ScheduleRecord, error) {
	m, rev, err := scheduleRecords.get(s, ctx, id)
	return store.ScheduleRecord{Schedule: m, Revision: rev}, err
}

// PutSchedule implements store.Schedules.
func (s *Store) PutSchedule(ctx context.Context, m *messages.Schedule, rev uint64) (store.ScheduleRecord, error) {
	m, next, err := scheduleRecords.put(s, ctx, m, rev)
	return store.ScheduleRecord{Schedule: m, Revision: next}, err
}

// ListSchedules implements store.Schedules.
func (s *Store) ListSchedules(ctx context.Context) ([]store.ScheduleRecord, error) {
	var out []store.ScheduleRecord
	err := scheduleRecords.list(s, ctx, func(m *messages.Schedule, rev uint64) {
		out = append(out, store.ScheduleRecord{Schedule: m, Revision: rev})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteSchedule implements store.Schedules.
func (s *Store) DeleteSchedule(ctx context.Context, id string, rev uint64) error {
	return scheduleRecords.delete(s, ctx, id, rev)
}
