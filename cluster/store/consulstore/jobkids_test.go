package consulstore_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
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

// countingTransport counts the bytes of the HTTP responses it reads.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// BenchmarkChildJobsOf10000: what finding a job's 2 child jobs reads from
// Consul with 10,000 other jobs stored (each with a 256-byte restart),
// through the index and by the scan job supervision made before it
// (ListJobs, then its children picked): the time and the bytes of Consul's
// answers per listing.
func BenchmarkChildJobsOf10000(b *testing.B) {
	agent := testconsul.Start(b, testconsul.Options{})
	wire := &countingTransport{}
	c, err := api.NewClient(&api.Config{Address: agent.HTTPAddr(), HttpClient: &http.Client{Transport: wire}})
	if err != nil {
		b.Fatal(err)
	}
	s, err := consulstore.New(c, consulstore.DefaultConfig("kidsbench"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	const others = 10_000
	restart := []*messages.JobRestart{{Task: "t", Error: strings.Repeat("x", 256)}}
	var wg sync.WaitGroup
	ids := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				j := &messages.Job{Id: fmt.Sprintf("other-%05d", i), Restarts: restart}
				if i%2 == 1 {
					j.Parent = "other-00000"
				}
				if _, err := s.PutJob(ctx, j, 0); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := range others {
		ids <- i
	}
	close(ids)
	wg.Wait()
	for _, id := range []string{"kid-1", "kid-2"} {
		if _, err := s.PutJob(ctx, &messages.Job{Id: id, Parent: "root"}, 0); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.Reconcile(ctx); err != nil { // the index is complete
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		load func() (int, error)
	}{
		{"index", func() (int, error) { kids, err := s.ListChildJobs(ctx, "root"); return len(kids), err }},
		{"scan", func() (int, error) {
			all, err := s.ListJobs(ctx)
			n := 0
			for _, j := range all {
				if j.Job.GetParent() == "root" {
					n++
				}
			}
			return n, err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			wire.n.Store(0)
			for b.Loop() {
				if n, err := bc.load(); err != nil || n != 2 {
					b.Fatalf("%d children, %v", n, err)
				}
			}
			b.ReportMetric(float64(wire.n.Load())/float64(b.N), "wirebytes/op")
		})
	}
}
