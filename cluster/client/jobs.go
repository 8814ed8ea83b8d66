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
