package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/granary-rt/granary/cluster/api"
)

// PutSchedule declares a recurring schedule, or changes one (PUT
// /v1/schedules/{id}): spec's cron (in its time zone) says when runs are
// due, its overlap policy what a due run does while the last one runs, its
// task what each run submits. Idempotent: the same spec again changes
// nothing. Each run is an ordinary task, id "<schedule>-<UTC time>",
// labelled granary.schedule=<schedule>.
func (c *Client) PutSchedule(ctx context.Context, id string, spec api.ScheduleSpec) (*api.Schedule, error) {
	var out api.Schedule
	return &out, c.do(ctx, http.MethodPut, schedulePath(id), nil, spec, &out)
}

// Schedule returns a schedule with its next run and counts.
func (c *Client) Schedule(ctx context.Context, id string) (*api.Schedule, error) {
	var out api.Schedule
	return &out, c.do(ctx, http.MethodGet, schedulePath(id), nil, nil, &out)
}

// Schedules lists every schedule, by id.
func (c *Client) Schedules(ctx context.Context) ([]*api.Schedule, error) {
	var out api.ScheduleList
	return out.Schedules, c.do(ctx, http.MethodGet, "/v1/schedules", nil, nil, &out)
}

// DeleteSchedule deletes a schedule and returns it as it stood: no run
// starts after it; its runs stay.
func (c *Client) DeleteSchedule(ctx context.Context, id string) (*api.Schedule, error) {
	var out api.Schedule
	return &out, c.do(ctx, http.MethodDelete, schedulePath(id), nil, nil, &out)
}

// PauseSchedule pauses a schedule: its due times pass without runs.
func (c *Client) PauseSchedule(ctx context.Context, id string) (*api.Schedule, error) {
	var out api.Schedule
	return &out, c.do(ctx, http.MethodPost, schedulePath(id)+"/pause", nil, nil, &out)
}

// ResumeSchedule resumes a paused schedule from now: the times that passed
// while it was paused are not caught up.
func (c *Client) ResumeSchedule(ctx context.Context, id string) (*api.Schedule, error) {
	var out api.Schedule
	return &out, c.do(ctx, http.MethodPost, schedulePath(id)+"/resume", nil, nil, &out)
}

func schedulePath(id string) string { return "/v1/schedules/" + url.PathEscape(id) }
