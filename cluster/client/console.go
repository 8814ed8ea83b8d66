package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/granary-rt/granary/cluster/api"
)

// MemberReport asks the node about itself: fenced or not, its lease's
// age, its activations by kind, its running attempts (GET /v1/member).
func (c *Client) MemberReport(ctx context.Context) (*api.MemberReport, error) {
	var out api.MemberReport
	return &out, c.do(ctx, http.MethodGet, "/v1/member", nil, nil, &out)
}

// Cluster asks the node about every member registered in Consul, healthy
// or not, each with its own report (GET /v1/cluster).
func (c *Client) Cluster(ctx context.Context) (*api.ClusterReport, error) {
	var out api.ClusterReport
	return &out, c.do(ctx, http.MethodGet, "/v1/cluster", nil, nil, &out)
}

// TaskStats counts the stored tasks by state and kind (GET
// /v1/tasks:stats), from counts the store keeps with its writes: current,
// and as cheap at a million tasks as at ten.
func (c *Client) TaskStats(ctx context.Context) (*api.TaskStats, error) {
	var out api.TaskStats
	return &out, c.do(ctx, http.MethodGet, "/v1/tasks:stats", nil, nil, &out)
}

// RecountTasks makes the stored tasks' counts anew from a scan of every
// task and returns them (POST /v1/tasks:recount, a write route): the
// repair of counts gone wrong, such as tasks written by members of an
// older version that kept no counts. It reads every task: use it rarely.
func (c *Client) RecountTasks(ctx context.Context) (*api.TaskStats, error) {
	var out api.TaskStats
	return &out, c.do(ctx, http.MethodPost, "/v1/tasks:recount", nil, nil, &out)
}

// Jobs lists up to limit job records, most recently changed first (GET
// /v1/jobs; 0: the node's default).
func (c *Client) Jobs(ctx context.Context, limit int) (*api.JobList, error) {
	var q url.Values
	if limit > 0 {
		q = url.Values{"limit": {strconv.Itoa(limit)}}
	}
	var out api.JobList
	return &out, c.do(ctx, http.MethodGet, "/v1/jobs", q, nil, &out)
}
