package storetest

import (
	"testing"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
)

// testListChildJobs: a parent's child jobs are listed by id with their
// current revisions, and only its own: not its grandchildren, not the
// children of a parent whose id extends or contains its own. A job given
// its parent by a later write (declared after its first task made it) is
// listed, a deleted one is not.
func testListChildJobs(t *testing.T, s store.Store) {
	c := ctx(t)
	put := func(id, parent string, rev uint64) store.JobRecord {
		t.Helper()
		r, err := s.PutJob(c, &messages.Job{Id: id, Parent: parent, Strategy: "one_for_one"}, rev)
		if err != nil {
			t.Fatalf("PutJob(%s) = %v", id, err)
		}
		return r
	}
	list := func(parent string) []store.JobRecord {
		t.Helper()
		recs, err := s.ListChildJobs(c, parent)
		if err != nil {
			t.Fatalf("ListChildJobs(%q) = %v", parent, err)
		}
		return recs
	}
	check := func(parent string, want ...string) {
		t.Helper()
		recs := list(parent)
		got := make([]string, len(recs))
		for i, r := range recs {
			got[i] = r.Job.GetId()
			if r.Job.GetParent() != parent {
				t.Fatalf("ListChildJobs(%q) has %s, whose parent is %q", parent, got[i], r.Job.GetParent())
			}
		}
		if !equal(got, want) {
			t.Fatalf("ListChildJobs(%q) = %v, want %v", parent, got, want)
		}
	}
	put("p", "", 0)
	put("p-b", "p", 0)
	kid := put("p-a", "p", 0)
	put("g", "p-a", 0)
	put("p2", "", 0)
	put("p2-a", "p2", 0)
	put("a/b", "", 0)
	put("a/b/c", "a/b", 0)
	put("a/b-x", "a", 0)
	check("p", "p-a", "p-b")
	check("p-a", "g")
	check("p2", "p2-a")
	check("a/b", "a/b/c")
	check("a", "a/b-x")
	check("g")
	check("missing")
	check("")

	// A write keeps the child listed once, at its new revision.
	next := proto.Clone(kid.Job).(*messages.Job)
	next.Restarts = append(next.Restarts, &messages.JobRestart{Task: "t", Error: "boom"})
	kid, err := s.PutJob(c, next, kid.Revision)
	if err != nil {
		t.Fatal(err)
	}
	if recs := list("p"); len(recs) != 2 || recs[0].Revision != kid.Revision || len(recs[0].Job.GetRestarts()) != 1 {
		t.Fatalf("ListChildJobs(p) after a write of p-a = %v; want p-a at revision %d with its restart, then p-b", recs, kid.Revision)
	}

	// A job made without a parent, then given one.
	late := put("p-c", "", 0)
	check("p", "p-a", "p-b")
	put("p-c", "p", late.Revision)
	check("p", "p-a", "p-b", "p-c")

	// A deleted child leaves the listing.
	if err := s.DeleteJob(c, kid.Job.GetId(), kid.Revision); err != nil {
		t.Fatal(err)
	}
	check("p", "p-b", "p-c")
	check("p-a", "g")
}
