package consulstore_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/messages"
)

// queryCounter proxies to Consul and counts the blocking queries in
// flight, and the most there ever were.
type queryCounter struct {
	proxy     *httputil.ReverseProxy
	now, most atomic.Int64
}

func (q *queryCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("index") != "" {
		n := q.now.Add(1)
		defer q.now.Add(-1)
		for m := q.most.Load(); n > m && !q.most.CompareAndSwap(m, n); m = q.most.Load() {
		}
	}
	q.proxy.ServeHTTP(w, r)
}

// TestWatchersShareQueries: 200 waiters on one task and 60 on 60 other
// tasks hold at most MaxWatches blocking queries against Consul at once
// (waiters on one task share one), and every waiter still sees the change
// it waits for. The store here is not the tasks' writer, so every waiter
// has to learn of the change from Consul.
func TestWatchersShareQueries(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	counter := &queryCounter{proxy: proxyTo(agent)}
	c := clientThrough(t, counter)
	scfg := consulstore.DefaultConfig("watch")
	scfg.MaxWatches = 8
	watcher, err := consulstore.New(c, scfg)
	if err != nil {
		t.Fatal(err)
	}
	writer := newStore(t, agent, consulstore.DefaultConfig("watch"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ids := []string{"shared"}
	for i := range 60 {
		ids = append(ids, fmt.Sprintf("own-%02d", i))
	}
	revs := map[string]store.Record{}
	for _, id := range ids {
		rec, _, err := writer.Create(ctx, storetest.NewTask(id, "m1"))
		if err != nil {
			t.Fatal(err)
		}
		revs[id] = rec
	}
	var wg sync.WaitGroup
	var seen atomic.Int64
	wait := func(id string, after uint64) {
		defer wg.Done()
		for ctx.Err() == nil {
			rec, err := watcher.Watch(ctx, id, after)
			if err != nil {
				t.Errorf("Watch(%s): %v", id, err)
				return
			}
			if rec.Task.GetStatus().GetState() == messages.TaskState_TASK_STATE_RUNNING {
				seen.Add(1)
				return
			}
			after = rec.Revision
		}
	}
	for range 200 {
		wg.Add(1)
		go wait("shared", revs["shared"].Revision)
	}
	for _, id := range ids[1:] {
		wg.Add(1)
		go wait(id, revs[id].Revision)
	}
	// Let the waiters start their queries before anything changes.
	deadline := time.Now().Add(10 * time.Second)
	for counter.now.Load() < 8 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, id := range ids {
		rec := revs[id]
		rec.Task.Status.State = messages.TaskState_TASK_STATE_RUNNING
		if _, err := writer.Update(ctx, rec.Task, rec.Revision); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if got := seen.Load(); got != 260 {
		t.Fatalf("%d of 260 waiters saw the change", got)
	}
	if most := counter.most.Load(); most > 8 {
		t.Fatalf("%d blocking queries in flight at once, the bound is 8", most)
	}
	t.Logf("260 waiters, at most %d blocking queries at once", counter.most.Load())
}
