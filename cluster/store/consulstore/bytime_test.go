package consulstore_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/messages"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// readCounter stands between a store and a Consul agent and counts the
// task records (keys under <prefix>tasks/ with their values) Consul sends,
// in listings and in transactions alike, the index entries (keys under
// <prefix>bytime/) it lists, and the requests.
type readCounter struct {
	next     http.Handler
	marker   *regexp.Regexp
	entry    []byte
	records  atomic.Int64
	entries  atomic.Int64
	requests atomic.Int64
	bytes    atomic.Int64 // of the answers' bodies
}

func newReadCounter(t *testing.T, agent *testconsul.Agent, cluster string) (*readCounter, *api.Client) {
	proxy := proxyTo(agent)
	director := proxy.Director
	proxy.Director = func(r *http.Request) {
		director(r)
		r.Header.Del("Accept-Encoding") // plain answers, to count in
	}
	// A task record read is a task key answered with its value; a write's
	// check of a task's index answers the key with no value (null).
	rc := &readCounter{next: proxy, marker: regexp.MustCompile(`"Key":\s*"granary/` + cluster + `/tasks/[^"]*",\s*"Flags":\s*\d+,\s*"Value":\s*"`),
		entry: []byte(`"granary/` + cluster + `/bytime/`)}
	return rc, clientThrough(t, rc)
}

func (rc *readCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	rc.next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	rc.requests.Add(1)
	rc.bytes.Add(int64(len(body)))
	rc.records.Add(int64(len(rc.marker.FindAllIndex(body, -1))))
	rc.entries.Add(int64(bytes.Count(body, rc.entry)))
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// reads runs f and returns the task records and requests it read.
func (rc *readCounter) reads(f func()) (records, requests int64) {
	r0, q0 := rc.records.Load(), rc.requests.Load()
	f()
	return rc.records.Load() - r0, rc.requests.Load() - q0
}

// createMany stores n tasks t0000.. submitted a millisecond apart from at,
// 32 at a time; every seventh is of kind "sleep".
func createMany(t *testing.T, s store.Store, n int, at time.Time) {
	createSpaced(t, s, n, at, time.Millisecond)
}

// createSpaced is createMany with tasks step apart.
func createSpaced(t *testing.T, s store.Store, n int, at time.Time, step time.Duration) {
	t.Helper()
	storetest.CreateMany(t, s, n, func(i int) *messages.Task {
		task := storetest.NewTask(fmt.Sprintf("t%04d", i), "m1")
		task.Status.SubmittedAt = timestamppb.New(at.Add(time.Duration(i) * step))
		if i%7 == 0 {
			task.Spec.Kind = "sleep"
		}
		return task
	})
}

// TestListNewestReadsOnlyItsPage: a page of the newest tasks reads its own
// tasks from Consul, not every task (the listing before the index read
// all 1500 of them); the next page too; a filter that keeps every seventh
// reads a few pages' worth; a filter that keeps none gives up within its
// bound and reads every task once, as before.
func TestListNewestReadsOnlyItsPage(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	rc, client := newReadCounter(t, agent, "reads")
	s := indexedStore(t, client, consulstore.DefaultConfig("reads"))
	ctx := context.Background()
	const n = 1500
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	createMany(t, s, n, at)

	var recs []store.Record
	var err error
	list := func(f store.Filter) {
		recs, err = s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
	}
	records, requests := rc.reads(func() { list(store.Filter{Order: store.NewestFirst, Limit: 20}) })
	t.Logf("page of 20 newest of %d: %d task records read in %d requests", n, records, requests)
	if len(recs) != 20 || recs[0].Task.GetSpec().GetId() != fmt.Sprintf("t%04d", n-1) || recs[19].Task.GetSpec().GetId() != fmt.Sprintf("t%04d", n-20) {
		t.Fatalf("page of 20 newest = %v", recs)
	}
	if records > 20 {
		t.Fatalf("a page of 20 read %d task records from Consul, want 20", records)
	}
	after := store.PositionOf(recs[19].Task)
	records, _ = rc.reads(func() { list(store.Filter{Order: store.NewestFirst, Limit: 20, After: &after}) })
	if len(recs) != 20 || recs[0].Task.GetSpec().GetId() != fmt.Sprintf("t%04d", n-21) || records > 20 {
		t.Fatalf("second page: %d tasks from %s, %d task records read; want 20 from t%04d, reading 20", len(recs), recs[0].Task.GetSpec().GetId(), records, n-21)
	}

	records, requests = rc.reads(func() { list(store.Filter{Order: store.NewestFirst, Limit: 10, Kind: "sleep"}) })
	t.Logf("page of 10 newest of kind sleep (1 in 7): %d task records read in %d requests", records, requests)
	if len(recs) != 10 || recs[0].Task.GetSpec().GetId() != "t1498" || records > 7*10+2*64 {
		t.Fatalf("page of 10 of kind sleep: %d tasks from %s, %d task records read", len(recs), recs[0].Task.GetSpec().GetId(), records)
	}

	records, requests = rc.reads(func() { list(store.Filter{Order: store.NewestFirst, Limit: 10, Kind: "nosuchkind"}) })
	t.Logf("page of a kind matching none: %d task records read in %d requests", records, requests)
	if len(recs) != 0 || records > n+2048+10 {
		t.Fatalf("kind matching none: %d tasks, %d task records read; want none, reading at most %d", len(recs), records, n+2048+10)
	}
}

// TestListNewestAcrossGranularities: a walk that meets a crowded minute
// (1500 tasks) lists the next by seconds, one that meets sparse tasks
// lists by hours; pages of every size list every task once, in order.
func TestListNewestAcrossGranularities(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	s := newStore(t, agent, consulstore.DefaultConfig("gran"))
	ctx := context.Background()
	if _, err := s.Backfill(ctx); err != nil {
		t.Fatal(err)
	}
	// t0000..t0899 in the 36s before a minute, t0900..t2399 in the minute.
	at := time.Now().Truncate(time.Minute).Add(-5 * time.Minute).Add(-36 * time.Second)
	createSpaced(t, s, 2400, at, 40*time.Millisecond)
	// Sparse: one task an hour over two days, before them.
	var wg sync.WaitGroup
	for i := range 48 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			task := storetest.NewTask(fmt.Sprintf("s%02d", i), "m1")
			task.Status.SubmittedAt = timestamppb.New(at.Add(-time.Duration(48-i) * time.Hour))
			if _, _, err := s.Create(ctx, task); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var want []string
	for i := 2399; i >= 0; i-- {
		want = append(want, fmt.Sprintf("t%04d", i))
	}
	for i := 47; i >= 0; i-- {
		want = append(want, fmt.Sprintf("s%02d", i))
	}
	for _, limit := range []int{3000, 1100, 333} {
		var got []string
		f := store.Filter{Order: store.NewestFirst, Limit: limit}
		for range 20 {
			recs, err := s.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				got = append(got, r.Task.GetSpec().GetId())
			}
			if len(recs) < limit {
				break
			}
			p := store.PositionOf(recs[len(recs)-1].Task)
			f.After = &p
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("pages of %d: %d tasks listed, want %d, or out of order", limit, len(got), len(want))
		}
	}
}

// TestListNewestGivesUpOnRareFilters: a walk past Config.WalkRecords
// reads every task in one listing instead, and still answers right.
func TestListNewestGivesUpOnRareFilters(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	rc, client := newReadCounter(t, agent, "rare")
	cfg := consulstore.DefaultConfig("rare")
	cfg.WalkRecords = 100
	s := indexedStore(t, client, cfg)
	ctx := context.Background()
	const n = 600
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	createMany(t, s, n, at)
	rare := storetest.NewTask("rare", "m1")
	rare.Spec.Kind = "rare"
	rare.Status.SubmittedAt = timestamppb.New(at.Add(-time.Second)) // the oldest
	if _, _, err := s.Create(ctx, rare); err != nil {
		t.Fatal(err)
	}
	var recs []store.Record
	var err error
	records, requests := rc.reads(func() {
		recs, err = s.List(ctx, store.Filter{Order: store.NewestFirst, Limit: 5, Kind: "rare"})
	})
	t.Logf("a page of a kind only the oldest task is of: %d task records read in %d requests", records, requests)
	if err != nil || len(recs) != 1 || recs[0].Task.GetSpec().GetId() != "rare" {
		t.Fatalf("List = %v, %v; want [rare]", recs, err)
	}
	if records < n || records > n+100+5+4*64 {
		t.Fatalf("read %d task records; want the walk's bound and then every task (%d)", records, n)
	}
}

// putOld stores task as a store before the index, or a member of an older
// version, writes it: the task key only, no index entry.
func putOld(t *testing.T, kv *api.KV, cluster string, task *messages.Task) {
	t.Helper()
	body, err := proto.Marshal(task)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(&api.KVPair{Key: "granary/" + cluster + "/tasks/" + task.Spec.Id, Value: body}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestListNewestIndexesOlderTasks: tasks stored before the index (no
// entries, no marker) are listed from the first listing on, by a read of
// every task; a listing starts nothing; a store that opens reconciles the
// index in the background and writes the marker; from then on pages walk
// the index and still hold every task.
func TestListNewestIndexesOlderTasks(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	kv := agent.Client().KV()
	const n = 300
	at := time.Now().Add(-3 * time.Hour)
	for i := range n {
		task := storetest.NewTask(fmt.Sprintf("old%03d", i), "m1")
		task.Status.SubmittedAt = timestamppb.New(at.Add(time.Duration(i) * 37 * time.Second))
		putOld(t, kv, "old", task)
	}
	rc, client := newReadCounter(t, agent, "old")
	cfg := consulstore.DefaultConfig("old")
	cfg.ReconcileEvery = -1 // this one lists only
	s, err := consulstore.New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	check := func() int64 {
		var recs []store.Record
		records, _ := rc.reads(func() {
			recs, err = s.List(ctx, store.Filter{Order: store.NewestFirst, Limit: 10})
		})
		if err != nil || len(recs) != 10 {
			t.Fatalf("page of 10 newest: %d tasks, %v", len(recs), err)
		}
		for i, r := range recs {
			if want := fmt.Sprintf("old%03d", n-1-i); r.Task.GetSpec().GetId() != want {
				t.Fatalf("item %d is %s, want %s", i, r.Task.GetSpec().GetId(), want)
			}
		}
		return records
	}
	if records := check(); records < n {
		t.Fatalf("before the index is reconciled a page read %d task records; want every task (%d) read", records, n)
	}
	if pair, _, err := kv.Get("granary/old/bytime-ready", nil); err != nil || pair != nil {
		t.Fatalf("the marker after a listing: %v, %v; want none (only a reconcile writes it)", pair, err)
	}
	newStore(t, agent, consulstore.DefaultConfig("old")) // reconciles as it opens
	waitMarker(t, kv, "old")
	if records := check(); records > 10 {
		t.Fatalf("after the reconcile a page of 10 read %d task records", records)
	}
	// Every task, by pages of 37, through the index.
	seen := 0
	f := store.Filter{Order: store.NewestFirst, Limit: 37}
	for {
		recs, err := s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if want := fmt.Sprintf("old%03d", n-1-seen); r.Task.GetSpec().GetId() != want {
				t.Fatalf("item %d is %s, want %s", seen, r.Task.GetSpec().GetId(), want)
			}
			seen++
		}
		if len(recs) < f.Limit {
			break
		}
		p := store.PositionOf(recs[len(recs)-1].Task)
		f.After = &p
	}
	if seen != n {
		t.Fatalf("pages listed %d tasks, want %d", seen, n)
	}
	if got, err := s.Backfill(ctx); err != nil || got != 0 {
		t.Fatalf("Backfill after the reconcile = %d, %v; want 0 (every task indexed)", got, err)
	}
}

// TestListNewestSkipsAndHealsOrphans: an entry whose task is gone (deleted
// behind the store's back) is left out of pages and deleted; an old hour
// left empty by the janitor loses its key.
func TestListNewestSkipsAndHealsOrphans(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	kv := agent.Client().KV()
	s := newStore(t, agent, consulstore.DefaultConfig("heal"))
	ctx := context.Background()
	if _, err := s.Backfill(ctx); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	createMany(t, s, 5, at)
	if _, err := kv.Delete("granary/heal/tasks/t0003", nil); err != nil {
		t.Fatal(err)
	}
	// A task of an old hour, finished and swept.
	old := storetest.NewTask("swept", "m1")
	oldAt := time.Now().Add(-5 * time.Hour)
	old.Status.SubmittedAt = timestamppb.New(oldAt)
	rec, _, err := s.Create(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	done := proto.Clone(rec.Task).(*messages.Task)
	done.Status.State = messages.TaskState_TASK_STATE_COMPLETED
	if rec, err = s.Update(ctx, done, rec.Revision); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "swept", rec.Revision); err != nil {
		t.Fatal(err)
	}
	hourKey := "granary/heal/timedir/" + oldAt.UTC().Format("2006010215")
	if pair, _, err := kv.Get(hourKey, nil); err != nil || pair == nil {
		t.Fatalf("the old hour's key %s: %v, %v; want it written with its task", hourKey, pair, err)
	}

	recs, err := s.List(ctx, store.Filter{Order: store.NewestFirst, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Task.GetSpec().GetId())
	}
	if fmt.Sprint(got) != "[t0004 t0002 t0001 t0000]" {
		t.Fatalf("newest = %v, want [t0004 t0002 t0001 t0000]", got)
	}
	keys, _, err := kv.Keys("granary/heal/bytime/", "", nil)
	if err != nil || len(keys) != 4 {
		t.Fatalf("index entries after the listing: %v, %v; want 4 (the orphan deleted)", keys, err)
	}
	if pair, _, err := kv.Get(hourKey, nil); err != nil || pair != nil {
		t.Fatalf("the old empty hour's key after a listing: %v, %v; want it pruned", pair, err)
	}
}

// indexedStore is a store on client with cfg whose index is marked
// complete (Backfill), closed when the test ends.
func indexedStore(t *testing.T, client *api.Client, cfg consulstore.Config) *consulstore.Store {
	t.Helper()
	s, err := consulstore.New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Backfill(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}
