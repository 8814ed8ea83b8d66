package consulstore_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/messages"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/proto"
)

// requestLog is an HTTP transport that records the requests a Consul client
// sends: method and path.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (r *requestLog) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// take returns the requests recorded since the last take.
func (r *requestLog) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

// recordingClient is a Consul client of agent whose requests rec records.
func recordingClient(t *testing.T, agent *testconsul.Agent, rec *requestLog) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: agent.HTTPAddr(), HttpClient: &http.Client{Transport: rec}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// scanCounts counts every task of s by a listing.
func scanCounts(t *testing.T, s store.Store) store.Counts {
	t.Helper()
	recs, err := s.List(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return store.CountRecords(recs)
}

// TestCountsReadNoTask: once made, the counts are one listing of the
// counter shards: no task is read, however many there are.
func TestCountsReadNoTask(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	rec := &requestLog{}
	cfg := consulstore.DefaultConfig("countread")
	cfg.ReconcileEvery = -1 // no background requests
	s, err := consulstore.New(recordingClient(t, agent, rec), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	storetest.CreateMany(t, s, 100, func(i int) *messages.Task { return storetest.NewTask(fmt.Sprintf("t%03d", i), "m1") })
	if _, err := s.Counts(context.Background()); err != nil { // made here: the first count scans once
		t.Fatal(err)
	}
	rec.take()
	got, err := s.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reqs := rec.take()
	listed := false
	for _, r := range reqs {
		if strings.Contains(r, "/tasks") || strings.Contains(r, "/v1/txn") {
			t.Fatalf("Counts sent %q; it read tasks", reqs)
		}
		listed = listed || strings.HasPrefix(r, "GET /v1/kv/granary/countread/counts/")
	}
	if !listed || len(reqs) > 2 {
		t.Fatalf("Counts sent %q; want one listing of granary/countread/counts/", reqs)
	}
	if want := scanCounts(t, s); !got.Equal(want) || got.Total() != 100 {
		t.Fatalf("counts %v, a scan counts %v", got, want)
	}
}

// TestCountsRepair: tasks written without counts (by a member of an older
// version) are counted after RebuildCounts, and counts never made (their
// keys gone) are made by the next Counts, from one scan.
func TestCountsRepair(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	s := newStore(t, agent, consulstore.DefaultConfig("repair"))
	ctx := context.Background()
	storetest.CreateMany(t, s, 20, func(i int) *messages.Task { return storetest.NewTask(fmt.Sprintf("t%02d", i), "m1") })
	if _, err := s.Counts(ctx); err != nil { // made
		t.Fatal(err)
	}
	old := storetest.NewTask("old", "")
	old.Status.State = messages.TaskState_TASK_STATE_COMPLETED
	body, err := proto.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.Client().KV().Put(&api.KVPair{Key: "granary/repair/tasks/old", Value: body}, nil); err != nil {
		t.Fatal(err)
	}
	want := scanCounts(t, s)
	if got, err := s.Counts(ctx); err != nil || got.Equal(want) {
		t.Fatalf("counts %v (%v) before the repair; the uncounted task should be missing from them", got, err)
	}
	if got, err := s.RebuildCounts(ctx); err != nil || !got.Equal(want) {
		t.Fatalf("RebuildCounts = %v, %v; want %v", got, err, want)
	}
	if got, err := s.Counts(ctx); err != nil || !got.Equal(want) {
		t.Fatalf("counts after the repair %v (%v), want %v", got, err, want)
	}
	if _, err := agent.Client().KV().DeleteTree("granary/repair/counts/", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Counts(ctx); err != nil || !got.Equal(want) {
		t.Fatalf("counts whose keys were deleted %v (%v), want them made again: %v", got, err, want)
	}
	// The shards this store remembered are gone too: its next writes read
	// them again and count right.
	storetest.CreateMany(t, s, 5, func(i int) *messages.Task { return storetest.NewTask(fmt.Sprintf("u%d", i), "m1") })
	if got, err := s.Counts(ctx); err != nil || !got.Equal(scanCounts(t, s)) {
		t.Fatalf("counts after more writes %v (%v), want %v", got, err, scanCounts(t, s))
	}
}

// TestCountsTwoStoresOneWriterName: two stores writing the same shards
// (two processes given one member name) refuse each other's stale shard
// writes, read the shard again and count right.
func TestCountsTwoStoresOneWriterName(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	cfg := consulstore.DefaultConfig("twins")
	cfg.Writer, cfg.CallTimeout = "m1", 10*time.Second
	a, b := newStore(t, agent, cfg), newStore(t, agent, cfg)
	var wg sync.WaitGroup
	for w, s := range []*consulstore.Store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				if _, _, err := s.Create(context.Background(), storetest.NewTask(fmt.Sprintf("w%d-%02d", w, i), "m1")); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for _, s := range []*consulstore.Store{a, b} {
		if got, err := s.Counts(context.Background()); err != nil || got.Total() != 120 || !got.Equal(scanCounts(t, s)) {
			t.Fatalf("counts %v (%v), want 120 tasks: %v", got, err, scanCounts(t, s))
		}
	}
}
