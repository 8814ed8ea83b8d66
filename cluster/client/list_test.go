package client_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestListPagesAndKinds: ListPage returns a page and its cursor, ListAll
// follows the cursors, List still returns everything, Kinds the node's.
func TestListPagesAndKinds(t *testing.T) {
	c, _ := start(t)
	ctx := testutil.Context(t, 20*time.Second)
	for i := range 5 {
		req := api.SubmitRequest{ID: fmt.Sprintf("p%d", i), Kind: "echo", Payload: json.RawMessage(`1`)}
		if i%2 == 0 {
			req.Labels = map[string]string{"even": "yes"}
		}
		if _, err := c.Submit(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.ListPage(ctx, client.ListOptions{Limit: 2})
	if err != nil || page.Count != 2 || page.Tasks[0].ID != "p4" || page.Next == "" {
		t.Fatalf("ListPage(limit 2) = %+v, %v", page, err)
	}
	next, err := c.ListPage(ctx, client.ListOptions{Limit: 2, Cursor: page.Next})
	if err != nil || next.Count != 2 || next.Tasks[0].ID != "p2" {
		t.Fatalf("the next page = %+v, %v", next, err)
	}
	all, err := c.ListAll(ctx, client.ListOptions{Limit: 2, Labels: map[string]string{"even": "yes"}, Kind: "echo"})
	if err != nil || len(all) != 3 || all[2].ID != "p0" {
		t.Fatalf("ListAll(even, pages of 2) = %d tasks, %v", len(all), err)
	}
	if list, err := c.List(ctx); err != nil || len(list) != 5 {
		t.Fatalf("List = %d tasks, %v", len(list), err)
	}
	kinds, err := c.Kinds(ctx)
	if err != nil || len(kinds) != 2 || kinds[0].Name != "echo" || kinds[0].Defaults == nil || *kinds[0].Defaults.MaxAttempts != 5 {
		t.Fatalf("Kinds = %+v, %v", kinds, err)
	}
}

// TestJobPages: JobPage returns the summary and a first page with its
// cursor, JobTasksPage the rest, and Job every task, past the node's
// default page of 100.
func TestJobPages(t *testing.T) {
	c, _ := start(t)
	ctx := testutil.Context(t, 20*time.Second)
	const n = 130
	reqs := make([]api.SubmitRequest, n)
	for i := range reqs {
		reqs[i] = api.SubmitRequest{ID: fmt.Sprintf("j%03d", i), Kind: "echo", Payload: json.RawMessage(`1`), JobID: "paged"}
	}
	results, err := c.SubmitBatch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
	}
	first, err := c.JobPage(ctx, "paged", 2)
	if err != nil || len(first.Tasks) != 2 || first.Tasks[0].ID != "j000" || first.TasksNext == "" || first.TaskCount != n {
		t.Fatalf("JobPage(limit 2) = %+v, %v", first, err)
	}
	next, err := c.JobTasksPage(ctx, "paged", client.ListOptions{Limit: 2, Cursor: first.TasksNext})
	if err != nil || next.Count != 2 || next.Tasks[0].ID != "j002" || next.Next == "" {
		t.Fatalf("JobTasksPage after the first = %+v, %v", next, err)
	}
	j, err := c.Job(ctx, "paged")
	if err != nil || len(j.Tasks) != n || j.Tasks[n-1].ID != fmt.Sprintf("j%03d", n-1) || j.TasksNext != "" {
		t.Fatalf("Job = %d tasks, next %q, %v; want %d", len(j.Tasks), j.TasksNext, err, n)
	}
}
