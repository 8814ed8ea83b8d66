package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
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

// PutUnrelatedJobs stores n jobs named other-NNNNN, half of them children
// of other-00000, each with a restart whose error is pad bytes long: the
// other jobs of a store in which one job's children are looked up. It
// writes from 16 goroutines, as a cluster's members would.
func PutUnrelatedJobs(t testing.TB, s store.Store, n, pad int) {
	t.Helper()
	restart := []*messages.JobRestart{{Task: "t", Error: strings.Repeat("x", pad)}}
	ids := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				j := &messages.Job{Id: fmt.Sprintf("other-%05d", i), Strategy: "one_for_one", Restarts: restart}
				if i%2 == 1 {
					j.Parent = "other-00000"
				}
				if _, err := s.PutJob(context.Background(), j, 0); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// BenchChildJobs measures finding a job's 2 child jobs with others other
// jobs stored (PutUnrelatedJobs, 256-byte restarts) in s, which must be
// empty: through the store's index (ListChildJobs, sub-benchmark index)
// and by the scan job supervision made before it (ListJobs, then the
// children picked: scan), each reporting the job records a lookup reads
// and their bytes. ready runs once the jobs are stored (a store's index
// reconcile; nil: none).
func BenchChildJobs(b *testing.B, s store.Store, others int, ready func() error) {
	PutUnrelatedJobs(b, s, others, 256)
	ctx := context.Background()
	for _, id := range []string{"kid-1", "kid-2"} {
		if _, err := s.PutJob(ctx, &messages.Job{Id: id, Parent: "root"}, 0); err != nil {
			b.Fatal(err)
		}
	}
	if ready != nil {
		if err := ready(); err != nil {
			b.Fatal(err)
		}
	}
	// Each lookup returns the children it found and the records it read.
	scan := func() (kids, read []store.JobRecord, err error) {
		read, err = s.ListJobs(ctx)
		for _, j := range read {
			if j.Job.GetParent() == "root" {
				kids = append(kids, j)
			}
		}
		return kids, read, err
	}
	index := func() (kids, read []store.JobRecord, err error) {
		kids, err = s.ListChildJobs(ctx, "root")
		return kids, kids, err
	}
	for _, bc := range []struct {
		name   string
		lookup func() (kids, read []store.JobRecord, err error)
	}{{"index", index}, {"scan", scan}} {
		b.Run(bc.name, func(b *testing.B) {
			var read []store.JobRecord
			for b.Loop() {
				kids, r, err := bc.lookup()
				if err != nil || len(kids) != 2 {
					b.Fatalf("%d children, %v", len(kids), err)
				}
				read = r
			}
			bytes := 0
			for _, r := range read {
				bytes += proto.Size(r.Job)
			}
			b.ReportMetric(float64(len(read)), "records/op")
			b.ReportMetric(float64(bytes), "recordbytes/op")
		})
	}
}
