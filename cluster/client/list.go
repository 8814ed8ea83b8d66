package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/granary-rt/granary/cluster/api"
)

// List returns every task in the given states (all when none), newest
// first, reading page after page (ListPage with the largest pages).
func (c *Client) List(ctx context.Context, states ...string) ([]*api.Status, error) {
	return c.ListAll(ctx, ListOptions{States: states})
}

// ListOptions select the tasks of ListPage and ListAll. Zero fields
// select everything.
type ListOptions struct {
	// States keeps the tasks in one of these states.
	States []string
	// Kind keeps the tasks of one kind.
	Kind string
	// Labels keeps the tasks carrying every one of these labels.
	Labels map[string]string
	// JobID keeps the tasks of one job.
	JobID string
	// Limit is the page size (0: the node's default, 100; at most 1000).
	Limit int
	// Cursor starts the page after the one that answered it (TaskList.Next).
	Cursor string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if len(o.States) > 0 {
		q.Set("state", strings.Join(o.States, ","))
	}
	if o.Kind != "" {
		q.Set("kind", o.Kind)
	}
	for k, v := range o.Labels {
		q.Add("label", k+"="+v)
	}
	if o.JobID != "" {
		q.Set("job", o.JobID)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	return q
}

// ListPage returns one page of the tasks o selects, newest first (by
// submission time); its Next, if not empty, is the Cursor of the next page.
func (c *Client) ListPage(ctx context.Context, o ListOptions) (*api.TaskList, error) {
	var out api.TaskList
	if err := c.do(ctx, http.MethodGet, "/v1/tasks", o.query(), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// maxPage is the page size ListAll asks for: the node's largest.
const maxPage = 1000

// ListAll returns every task o selects, newest first, following the pages'
// cursors from o.Cursor (o.Limit: the page size, default the largest).
func (c *Client) ListAll(ctx context.Context, o ListOptions) ([]*api.Status, error) {
	if o.Limit <= 0 {
		o.Limit = maxPage
	}
	var all []*api.Status
	for {
		page, err := c.ListPage(ctx, o)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Tasks...)
		if page.Next == "" {
			return all, nil
		}
		o.Cursor = page.Next
	}
}
