package consulstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/messages"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/proto"
)

// putOldJob writes a job record as a version without the child jobs index
// does: the record's key only.
func putOldJob(t *testing.T, kv *api.KV, cluster string, j *messages.Job) {
	t.Helper()
	body, err := proto.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(&api.KVPair{Key: "granary/" + cluster + "/jobs/" + j.Id, Value: body}, nil); err != nil {
		t.Fatal(err)
	}
}

func childIDs(t *testing.T, s store.Store, parent string) []string {
	t.Helper()
	recs, err := s.ListChildJobs(context.Background(), parent)
	if err != nil {
		t.Fatalf("ListChildJobs(%s) = %v", parent, err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.Job.GetId())
	}
	return ids
}

// TestChildJobsOfOlderRecords: job records stored before the child jobs
// index (no entries, no jobkids-ready) are listed by a scan until the first
// reconcile fills the index and writes the marker; from then on listings
// read the index, and other members see the marker. A child job an older
// member stores during a rolling upgrade is listed once a reconcile
// indexes it or this version writes its record; an entry whose record an
// older member deleted is skipped, then deleted by the reconcile.
func TestChildJobsOfOlderRecords(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	kv := agent.Client().KV()
	ctx := context.Background()
	const cluster = "kidsupgrade"
	for _, j := range []*messages.Job{{Id: "p"}, {Id: "p-b", Parent: "p"}, {Id: "p-a", Parent: "p"}, {Id: "q-a", Parent: "q"}} {
		putOldJob(t, kv, cluster, j)
	}
	off := consulstore.DefaultConfig(cluster)
	off.ReconcileEvery = -1
	s := newStore(t, agent, off)
	want := func(st store.Store, parent string, ids []string, why string) {
		t.Helper()
		if got := childIDs(t, st, parent); !slices.Equal(got, ids) {
			t.Fatalf("%s: children of %s = %v; want %v", why, parent, got, ids)
		}
	}
	entries := func() []string {
		t.Helper()
		keys, _, err := kv.Keys("granary/"+cluster+"/jobkids/", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	want(s, "p", []string{"p-a", "p-b"}, "before the index is filled")
	if pair, _, err := kv.Get("granary/"+cluster+"/jobkids-ready", nil); err != nil || pair != nil {
		t.Fatalf("a listing wrote the marker (%v, %v): only a reconcile fills the index", pair, err)
	}
	if r, err := s.Reconcile(ctx); err != nil || r.ChildJobs != 3 {
		t.Fatalf("the first reconcile indexed %d child jobs (%v); want p-a, p-b and q-a", r.ChildJobs, err)
	}
	if got := entries(); len(got) != 3 {
		t.Fatalf("after the reconcile the index holds %v; want the entries of p-a, p-b and q-a", got)
	}
	waitKey(t, kv, "granary/"+cluster+"/jobkids-ready")

	// An older member's children, stored after the marker: another
	// member lists from the index and misses them until a reconcile, or
	// a write of this version, gives them their entries.
	putOldJob(t, kv, cluster, &messages.Job{Id: "p-c", Parent: "p"})
	putOldJob(t, kv, cluster, &messages.Job{Id: "p-d", Parent: "p"})
	other := newStore(t, agent, off)
	want(other, "p", []string{"p-a", "p-b"}, "from the index, p-c and p-d without entries")
	rec, err := s.GetJob(ctx, "p-d")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutJob(ctx, rec.Job, rec.Revision); err != nil {
		t.Fatal(err)
	}
	want(other, "p", []string{"p-a", "p-b", "p-d"}, "after this version wrote p-d")
	if r, err := s.Reconcile(ctx); err != nil || r.ChildJobs != 1 {
		t.Fatalf("the next reconcile indexed %d child jobs (%v); want p-c", r.ChildJobs, err)
	}
	want(other, "p", []string{"p-a", "p-b", "p-c", "p-d"}, "after the next reconcile")
	want(other, "q", []string{"q-a"}, "after the next reconcile")

	// An older member deletes p-b: its entry is skipped, then deleted.
	if _, err := kv.Delete("granary/"+cluster+"/jobs/p-b", nil); err != nil {
		t.Fatal(err)
	}
	want(other, "p", []string{"p-a", "p-c", "p-d"}, "p-b deleted without its entry")
	if _, err := s.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got := entries(); len(got) != 4 || slices.ContainsFunc(got, func(k string) bool { return strings.HasSuffix(k, "/p-b") }) {
		t.Fatalf("after a reconcile the index holds %v; want p-b's entry gone, 4 left", got)
	}
}

// BenchmarkChildJobsOf10000: finding a job's 2 child jobs in Consul with
// 10,000 other jobs stored, through the index and by the old scan.
func BenchmarkChildJobsOf10000(b *testing.B) {
	agent := testconsul.Start(b, testconsul.Options{})
	s, err := consulstore.New(agent.Client(), consulstore.DefaultConfig("kidsbench"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	storetest.BenchChildJobs(b, s, 10_000, func() error { _, err := s.Reconcile(context.Background()); return err })
}

// A job's record holds an entry per child: one of 30,000 tasks is about
// 1.4 MB encoded, past Consul's 512 KiB per value, and is stored packed.
// Old code: the write failed ("too large"), and the job's supervisor
// retried it for good.
func TestJobRecordOfManyChildren(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	s := newStore(t, agent, consulstore.DefaultConfig("widejob"))
	ctx := context.Background()
	run := &messages.JobRun{Owner: "n1", Epoch: 1, Phase: "running"}
	for i := range 30000 {
		run.Children = append(run.Children, &messages.JobChildRun{Id: fmt.Sprintf("nightly-batch-2026-12-07-%06d", i), Restart: "transient", Status: "running"})
	}
	j := &messages.Job{Id: "nightly", Strategy: "one_for_one", Run: run}
	if size := proto.Size(j); size < 1<<20 {
		t.Fatalf("the record is %d bytes: too small to show anything", size)
	}
	put, err := s.PutJob(ctx, j, 0)
	if err != nil {
		t.Fatalf("PutJob of a job of 30,000 children: %v", err)
	}
	got, err := s.GetJob(ctx, "nightly")
	if err != nil || got.Revision != put.Revision || !proto.Equal(got.Job, j) {
		t.Fatalf("GetJob = revision %d (want %d), %d children, %v", got.Revision, put.Revision, len(got.Job.GetRun().GetChildren()), err)
	}
	all, err := s.ListJobs(ctx)
	if err != nil || len(all) != 1 || len(all[0].Job.GetRun().GetChildren()) != 30000 {
		t.Fatalf("ListJobs = %d jobs, %v", len(all), err)
	}
	j.Run.Epoch = 2
	if _, err := s.PutJob(ctx, j, put.Revision); err != nil {
		t.Fatalf("rewriting it (check-and-set on the packed value's revision): %v", err)
	}
}
