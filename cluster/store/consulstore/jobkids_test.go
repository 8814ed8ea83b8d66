package consulstore_test

import (
	"context"
	"slices"
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
// read the index (a record an older member writes later is missing until
// this version writes it again, as documented), and other members see the
// marker.
func TestChildJobsOfOlderRecords(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	kv := agent.Client().KV()
	const cluster = "kidsupgrade"
	for _, j := range []*messages.Job{{Id: "p"}, {Id: "p-b", Parent: "p"}, {Id: "p-a", Parent: "p"}, {Id: "q-a", Parent: "q"}} {
		putOldJob(t, kv, cluster, j)
	}
	off := consulstore.DefaultConfig(cluster)
	off.ReconcileEvery = -1
	s := newStore(t, agent, off)
	if got := childIDs(t, s, "p"); !slices.Equal(got, []string{"p-a", "p-b"}) {
		t.Fatalf("before the index is filled, children of p = %v; want [p-a p-b]", got)
	}
	if pair, _, err := kv.Get("granary/"+cluster+"/jobkids-ready", nil); err != nil || pair != nil {
		t.Fatalf("a listing wrote the marker (%v, %v): only a reconcile fills the index", pair, err)
	}
	if _, err := s.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, _, err := kv.Keys("granary/"+cluster+"/jobkids/", "", nil)
	if err != nil || len(entries) != 3 {
		t.Fatalf("after the reconcile the index holds %v (%v); want the entries of p-a, p-b and q-a", entries, err)
	}
	waitKey(t, kv, "granary/"+cluster+"/jobkids-ready")

	// From the index now: an older member's child, written after the
	// marker, is not listed until this version writes its record.
	putOldJob(t, kv, cluster, &messages.Job{Id: "p-c", Parent: "p"})
	other := newStore(t, agent, off)
	if got := childIDs(t, other, "p"); !slices.Equal(got, []string{"p-a", "p-b"}) {
		t.Fatalf("children of p from the index = %v; want [p-a p-b] (p-c has no entry)", got)
	}
	rec, err := s.GetJob(context.Background(), "p-c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutJob(context.Background(), rec.Job, rec.Revision); err != nil {
		t.Fatal(err)
	}
	if got := childIDs(t, other, "p"); !slices.Equal(got, []string{"p-a", "p-b", "p-c"}) {
		t.Fatalf("children of p after this version wrote p-c = %v; want [p-a p-b p-c]", got)
	}
	if got := childIDs(t, s, "q"); !slices.Equal(got, []string{"q-a"}) {
		t.Fatalf("children of q = %v; want [q-a]", got)
	}
}
