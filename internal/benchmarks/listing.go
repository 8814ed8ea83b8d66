package benchmarks

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ListPage is the page the listing benchmark asks for: GET /v1/tasks's
// default (100), and the one more it asks the store for to know whether a
// next page exists.
const ListPage = 100 + 1

// ListNewest measures what GET /v1/tasks costs the Consul task store: a
// page of the ListPage newest tasks out of tasks stored ones, next to a raw
// Consul KV read of the whole tasks prefix (?recurse, what answering a
// page cost before the submission-time index: every task read, then all
// but a page dropped), in the same run on one disk-backed Consul server
// (bin/consul -server). The tasks are completed, a second apart (so the
// store spans tasks/3600 hours), each with a 256-byte payload and result;
// a fifth are of kind "sleep". rounds rounds of: reps pages of the newest,
// reps pages far back (after the first half of the tasks, with a cursor),
// reps pages of kind "sleep", and reps raw reads, in a rotating order. It
// reports each side's median over rounds of the median latency
// ("newest-µs", "deep-µs", "kind-µs", "raw-µs") and of the bytes
// allocated by this process per operation ("newest-alloc-B", "raw-alloc-B";
// the raw read does not decode its records). b.N is ignored.
func ListNewest(b *testing.B, tasks, rounds, reps int) {
	agent := testconsul.Start(b, testconsul.Options{Mode: testconsul.Server})
	const cluster = "bench"
	s, err := consulstore.New(agent.Client(), consulstore.DefaultConfig(cluster))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := s.Backfill(ctx); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now().Add(-time.Duration(tasks) * time.Second).Truncate(time.Second)
	if err := fillStore(ctx, s, tasks, t0); err != nil {
		b.Fatal(err)
	}
	kv := agent.Client().KV()
	newest := store.Filter{Order: store.NewestFirst, Limit: ListPage}
	mid := store.Position{SubmittedAt: t0.Add(time.Duration(tasks/2) * time.Second), ID: fmt.Sprintf("t%06d", tasks/2)}
	deep := store.Filter{Order: store.NewestFirst, Limit: ListPage, After: &mid}
	kind := store.Filter{Order: store.NewestFirst, Limit: ListPage, Kind: "sleep"}
	list := func(f store.Filter) func() error {
		return func() error {
			recs, err := s.List(ctx, f)
			if err == nil && len(recs) != ListPage {
				err = fmt.Errorf("a page of %d tasks, want %d", len(recs), ListPage)
			}
			return err
		}
	}
	sides := []struct {
		name string
		op   func() error
	}{
		{"newest", list(newest)},
		{"deep", list(deep)},
		{"kind", list(kind)},
		{"raw", func() error {
			pairs, _, err := kv.List("granary/"+cluster+"/tasks/", nil)
			if err == nil && len(pairs) != tasks {
				err = fmt.Errorf("raw read of %d tasks, want %d", len(pairs), tasks)
			}
			return err
		}},
	}
	lat := map[string][]float64{}
	alloc := map[string][]float64{}
	b.ResetTimer()
	for round := range rounds {
		for k := range sides {
			side := sides[(round+k)%len(sides)]
			runtime.GC()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			took := make([]float64, 0, reps)
			for range reps {
				began := time.Now()
				if err := side.op(); err != nil {
					b.Fatalf("%s: %v", side.name, err)
				}
				took = append(took, float64(time.Since(began).Microseconds()))
			}
			runtime.ReadMemStats(&ms1)
			slices.Sort(took)
			lat[side.name] = append(lat[side.name], took[len(took)/2])
			alloc[side.name] = append(alloc[side.name], float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(reps))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(tasks), "tasks")
	for name, xs := range lat {
		b.ReportMetric(medianOf(xs, func(v float64) float64 { return v }), name+"-µs")
		b.ReportMetric(medianOf(alloc[name], func(v float64) float64 { return v }), name+"-alloc-B")
	}
}

// fillStore creates n completed tasks t000000.. in s, submitted a second
// apart from t0, 64 at a time.
func fillStore(ctx context.Context, s store.Store, n int, t0 time.Time) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, 64)
	payload := make([]byte, 256)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			at := t0.Add(time.Duration(i) * time.Second)
			task := &messages.Task{
				Spec: &messages.TaskSpec{Id: fmt.Sprintf("t%06d", i), Kind: "echo", Payload: payload},
				Status: &messages.TaskStatus{State: messages.TaskState_TASK_STATE_COMPLETED, Result: payload,
					SubmittedAt: timestamppb.New(at), FinishedAt: timestamppb.New(at.Add(time.Millisecond))},
			}
			if i%5 == 0 {
				task.Spec.Kind = "sleep"
			}
			if _, _, err := s.Create(ctx, task); err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
