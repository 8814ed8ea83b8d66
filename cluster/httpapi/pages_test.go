package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The job of issue 19, point 3: 300 tasks whose payload and result are
// 175 KB each. GET /v1/jobs/{id} answered 52 MB of it.
const (
	bigJobTasks = 300
	bigJobBytes = 175_000
)

// bigJob stores the job (id "big", tasks big-000…, completed) and serves
// the API with hcfg over it.
func bigJob(t *testing.T, hcfg httpapi.Config) *httptest.Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tasks.db")
	s, err := boltstore.Open(boltstore.DefaultConfig(path))
	if err != nil {
		t.Fatal(err)
	}
	blob := []byte(`{"text":"` + strings.Repeat("x", bigJobBytes-11) + `"}`)
	now := timestamppb.Now()
	storetest.CreateMany(t, s, bigJobTasks, func(i int) *messages.Task {
		task := storetest.NewTask(fmt.Sprintf("big-%03d", i), "")
		task.Spec.Payload, task.Spec.JobId, task.Spec.JobStrategy = blob, "big", "one_for_one"
		task.Status.State, task.Status.Result = messages.TaskState_TASK_STATE_COMPLETED, blob
		task.Status.SubmittedAt, task.Status.FinishedAt = now, now
		return task
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	srv, _ := apiServerOn(t, hcfg, boltstore.DefaultConfig(path))
	return srv
}

// getJSON GETs path, checks the status and the size of the answer, and
// decodes it into out.
func getJSON(t *testing.T, base, path string, maxBytes int, out any) {
	t.Helper()
	resp, body := send(t, http.MethodGet, base+path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if len(body) > maxBytes {
		t.Fatalf("GET %s answered %d bytes, want at most %d", path, len(body), maxBytes)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// TestLargeJob reads the job of issue 19 (one store for both subtests:
// writing it takes a while under -race).
func TestLargeJob(t *testing.T) {
	hcfg := httpapi.DefaultConfig()
	hcfg.MaxPageBytes = 64 << 10 // less than the 300 elided statuses: pages end early
	srv := bigJob(t, hcfg)
	t.Run("pages", func(t *testing.T) { testLargeJobPages(t, srv, hcfg) })
	t.Run("heap", func(t *testing.T) { testConcurrentReadsBoundHeap(t, srv) })
}

// testLargeJobPages: the job's summary comes with a first page of its
// tasks, results elided, well under the page budget; the pages after it,
// and a listing of 1000, keep to the budget too, ending early with a
// cursor; GET /v1/tasks/{id} has the result.
func testLargeJobPages(t *testing.T, srv *httptest.Server, hcfg httpapi.Config) {
	budget := int(hcfg.MaxPageBytes) + 4<<10 // the page, and the task that ends it at most

	var j api.JobStatus
	getJSON(t, srv.URL, "/v1/jobs/big", budget, &j)
	if j.State != api.StateCompleted || j.TaskCount != bigJobTasks || j.Counts[api.StateCompleted] != bigJobTasks || j.TasksNext == "" {
		t.Fatalf("job: state %s, %d tasks counted, counts %v, next %q; want completed, %d, and a next page", j.State, j.TaskCount, j.Counts, j.TasksNext, bigJobTasks)
	}
	seen := map[string]bool{}
	check := func(tasks []*api.Status) {
		for _, st := range tasks {
			if !st.ResultElided || st.ResultBytes != bigJobBytes || len(st.Result) != 0 {
				t.Fatalf("task %s in a page: elided %v, %d bytes, %d inline; want the result elided with its size", st.ID, st.ResultElided, st.ResultBytes, len(st.Result))
			}
			if !st.PayloadElided || st.PayloadBytes != bigJobBytes || len(st.Payload) != 0 {
				t.Fatalf("task %s in a page: payload elided %v, %d bytes, %d inline; want it elided with its size", st.ID, st.PayloadElided, st.PayloadBytes, len(st.Payload))
			}
			if seen[st.ID] {
				t.Fatalf("task %s in two pages", st.ID)
			}
			seen[st.ID] = true
		}
	}
	check(j.Tasks)
	for next := j.TasksNext; next != ""; {
		var page api.TaskList
		getJSON(t, srv.URL, "/v1/jobs/big/tasks?limit=1000&cursor="+next, budget, &page)
		check(page.Tasks)
		next = page.Next
	}
	if len(seen) != bigJobTasks {
		t.Fatalf("the job's pages hold %d tasks, want %d", len(seen), bigJobTasks)
	}

	var list api.TaskList
	getJSON(t, srv.URL, "/v1/tasks?limit=1000", budget, &list)
	if list.Count == 0 || list.Count >= bigJobTasks || list.Next == "" {
		t.Fatalf("GET /v1/tasks?limit=1000: %d tasks, next %q; want a page ended early by its byte budget", list.Count, list.Next)
	}
	// The single read has the result and the payload whole (issue 21:
	// inputs are visible), a little over twice their size.
	var one api.Status
	getJSON(t, srv.URL, "/v1/tasks/big-007", 2*bigJobBytes+4<<10, &one)
	if one.ResultElided || len(one.Result) < bigJobBytes-2 || one.PayloadElided || len(one.Payload) < bigJobBytes-2 {
		t.Fatalf("GET /v1/tasks/big-007: %d bytes of result, elided %v, %d of payload, elided %v; want them whole", len(one.Result), one.ResultElided, len(one.Payload), one.PayloadElided)
	}
}

// testConcurrentReadsBoundHeap: eight readers of the large job and of a
// listing of 1000 at once grow the heap by little (issue 19: 14 MB to
// 1.6 GB).
func testConcurrentReadsBoundHeap(t *testing.T, srv *httptest.Server) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := "/v1/jobs/big"
			if i%2 == 1 {
				path = "/v1/tasks?limit=1000"
			}
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				errs <- fmt.Sprintf("GET %s: %v", path, err)
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK {
				errs <- fmt.Sprintf("GET %s: %d %.200s %v", path, resp.StatusCode, body, err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	growth := int64(peak.Load()) - int64(before.HeapAlloc)
	t.Logf("heap: %d MB before, peak %d MB during 8 concurrent reads (growth %d MB)", before.HeapAlloc>>20, peak.Load()>>20, growth>>20)
	const limit = 200 << 20
	if growth > limit {
		t.Fatalf("8 concurrent reads grew the heap by %d MB, want at most %d MB", growth>>20, limit>>20)
	}
}
