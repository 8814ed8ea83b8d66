package api

import "time"

// ScheduleSpec is the body of PUT /v1/schedules/{id}: a recurring schedule.
type ScheduleSpec struct {
	// Cron is when runs are due: five fields (minute hour day-of-month
	// month day-of-week), a shortcut (@hourly, @daily, @weekly, @monthly,
	// @yearly) or "@every <duration>" (whole seconds, at least 1s).
	Cron string `json:"cron"`
	// TimeZone is the IANA zone the fields read wall time in (empty: UTC).
	TimeZone string `json:"time_zone,omitempty"`
	// Overlap is what a due run does while the last one has not finished:
	// skip (the default), queue_one or allow.
	Overlap string `json:"overlap,omitempty"`
	// Paused declares the schedule paused: no run starts until resumed.
	Paused bool `json:"paused,omitempty"`
	// CatchupWindow is how far back runs missed while no member could fire
	// still start (absent: the node's default, an hour; 0: none).
	CatchupWindow *Duration `json:"catchup_window,omitempty"`
	// Task is the task every run submits: kind, payload, policy, labels
	// (no id, job or start time: each run's id derives from the schedule
	// and its time).
	Task SubmitRequest `json:"task"`
}

// Schedule is a schedule as clients see it: its declaration and its firing
// state.
type Schedule struct {
	ID string `json:"id"`
	ScheduleSpec
	// NextRun is when the next run is due (absent while paused).
	NextRun *time.Time `json:"next_run,omitempty"`
	// LastSlot is the latest scheduled time decided (run, queued, skipped
	// or missed).
	LastSlot *time.Time `json:"last_slot,omitempty"`
	// LastRun is the id of the latest run (a task).
	LastRun string `json:"last_run,omitempty"`
	// Queued is the scheduled time of a run queue_one holds until the last
	// one ends.
	Queued *time.Time `json:"queued,omitempty"`
	// Runs counts the runs started, Skipped those the overlap policy
	// dropped, Missed those older than the catch-up window.
	Runs    int64 `json:"runs"`
	Skipped int64 `json:"skipped"`
	Missed  int64 `json:"missed"`
	// FiredBy is the member that fired last, FiredAt when.
	FiredBy   string     `json:"fired_by,omitempty"`
	FiredAt   *time.Time `json:"fired_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	Revision  uint64     `json:"revision"`
}

// ScheduleList is the body of GET /v1/schedules.
type ScheduleList struct {
	Schedules []*Schedule `json:"schedules"`
	Count     int         `json:"count"`
}
