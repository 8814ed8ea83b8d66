package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/supervisor/backoff"
)

// DeclareJob declares a job (PUT /v1/jobs/{id}): a supervisor with spec's
// strategy, restart budget, shutdown time and auto_shutdown, optionally a
// child of spec.Parent. It is idempotent: the same declaration again
// answers the job unchanged (a retry after a lost answer is safe); another
// declaration of a declared job is api.ErrAlreadyExists, saying what
// differs. Tasks join the job by naming it as their JobID.
func (c *Client) DeclareJob(ctx context.Context, id string, spec api.JobSpec) (*api.JobStatus, error) {
	var out api.JobStatus
	return &out, c.do(ctx, http.MethodPut, "/v1/jobs/"+url.PathEscape(id), nil, spec, &out)
}

// JobTree returns a job and its descendants, to any depth, with each
// node's state, budget and restarts (GET /v1/jobs/{id}/tree).
func (c *Client) JobTree(ctx context.Context, id string) (*api.JobTree, error) {
	var out api.JobTree
	return &out, c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/tree", nil, nil, &out)
}

// StopJob stops a job and its whole subtree, children first in reverse
// start order (DELETE /v1/jobs/{id}), recording reason (empty: "by
// request"): the job's cause reads "stopped: REASON", its descendants' "job
// ID stopped: REASON". It answers the job's tree as the stop left it, in
// which some children may still be exiting (Finished false): WaitJob waits
// for them. Stopping a stopped job is not an error.
func (c *Client) StopJob(ctx context.Context, id, reason string) (*api.JobTree, error) {
	var q url.Values
	if reason != "" {
		q = url.Values{"reason": {reason}}
	}
	var out api.JobTree
	return &out, c.do(ctx, http.MethodDelete, "/v1/jobs/"+url.PathEscape(id), q, nil, &out)
}

// WaitJob polls a job's tree until every job and task in it has ended,
// calling onChange (if not nil) with each tree read, and returns the last.
// It polls every JobPollEvery, as a tree has no revision to long-poll on.
func (c *Client) WaitJob(ctx context.Context, id string, onChange func(*api.JobTree)) (*api.JobTree, error) {
	for {
		t, err := c.JobTree(ctx, id)
		if err != nil {
			return nil, err
		}
		if onChange != nil {
			onChange(t)
		}
		if t.Finished() {
			return t, nil
		}
		if !backoff.Sleep(ctx, JobPollEvery) {
			jobs, tasks := t.Unfinished()
			return t, fmt.Errorf("waiting for job %s to end (%d jobs and %d tasks still running): %w", id, jobs, tasks, ctx.Err())
		}
	}
}

// JobPollEvery is how often WaitJob reads a job's tree: a stop takes about
// a job's shutdown time (5 s by default) at most, so a quarter second shows
// its progress without loading the node (a tree read lists the jobs).
const JobPollEvery = 250 * time.Millisecond

// Job returns a job: its state, cause and every task, by id, following
// the pages of its tasks (large results elided, as in a listing: Get has
// them). JobPage returns the summary and the first page only.
func (c *Client) Job(ctx context.Context, id string) (*api.JobStatus, error) {
	j, err := c.JobPage(ctx, id, 0)
	if err != nil {
		return nil, err
	}
	for cursor := j.TasksNext; cursor != ""; {
		page, err := c.JobTasksPage(ctx, id, ListOptions{Limit: maxPage, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		j.Tasks, cursor = append(j.Tasks, page.Tasks...), page.Next
	}
	j.TasksNext = ""
	return j, nil
}

// JobPage returns a job's summary and the first page of its tasks, by id
// (limit 0: the node's default page size); its TasksNext, if not empty, is
// the Cursor of JobTasksPage's next page.
func (c *Client) JobPage(ctx context.Context, id string, limit int) (*api.JobStatus, error) {
	var j api.JobStatus
	if err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), ListOptions{Limit: limit}.query(), nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// JobTasksPage returns a page of a job's tasks, by id, after o.Cursor (of
// o only Limit and Cursor apply).
func (c *Client) JobTasksPage(ctx context.Context, id string, o ListOptions) (*api.TaskList, error) {
	var out api.TaskList
	if err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/tasks", ListOptions{Limit: o.Limit, Cursor: o.Cursor}.query(), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
