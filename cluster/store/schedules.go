package store

import (
	"context"

	"github.com/granary-rt/granary/messages"
)

// ScheduleRecord is a stored recurring schedule with its revision.
type ScheduleRecord struct {
	Schedule *messages.Schedule
	Revision uint64
}

// Schedules is an optional Store capability: recurring schedules, stored
// under keys of their own beside the tasks (both stores have it). Writes
// are check-and-set on the revision, as for tasks and jobs: the member that
// fires a schedule advances its firing state only from the state it read.
type Schedules interface {
	// GetSchedule returns a schedule, or ErrNotFound.
	GetSchedule(ctx context.Context, id string) (ScheduleRecord, error)
	// PutSchedule writes a schedule if its stored revision is still rev
	// (0: only if none exists), and returns the new record; ErrConflict
	// otherwise.
	PutSchedule(ctx context.Context, s *messages.Schedule, rev uint64) (ScheduleRecord, error)
	// ListSchedules returns every schedule, ordered by id.
	ListSchedules(ctx context.Context) ([]ScheduleRecord, error)
	// DeleteSchedule removes a schedule if its stored revision is still
	// rev; ErrConflict otherwise, ErrNotFound if it is gone.
	DeleteSchedule(ctx context.Context, id string, rev uint64) error
}
