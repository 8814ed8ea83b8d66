package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	consul "github.com/hashicorp/consul/api"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
)

// FailoverAtScale measures the failover of a member owning n unfinished
// tasks: it starts one node, submits n long sleep tasks (all owned by it),
// starts two more nodes (running work is not reshuffled onto them), kills
// the first with SIGKILL and times until every task is running again on a
// survivor. It reports the seconds as "s_failover", and the p99 and worst
// latency ("grain-p99-ms", "grain-max-ms") and the errors ("grain-errors")
// of grain calls (whoami, 8 callers through a survivor, identities spread
// over every member) made from the kill until then; b.N is ignored (one
// failover per call).
func FailoverAtScale(b *testing.B, n int) {
	agent := testconsul.Start(b, testconsul.Options{Mode: testconsul.Server})
	victim := testnode.ClusterNode(b, "scale", agent.HTTPAddr(), "v", "--log-level", "warn")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := victim.Client()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	sem := make(chan struct{}, 32)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			_, err := c.Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("scale-%05d", i), Kind: "sleep", Payload: json.RawMessage(`{"ms":600000}`)})
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	waitRunning(b, ctx, c, n, func(st *api.Status) bool { return st.Owner == "v" })
	s1 := testnode.ClusterNode(b, "scale", agent.HTTPAddr(), "s1", "--log-level", "warn")
	testnode.ClusterNode(b, "scale", agent.HTTPAddr(), "s2", "--log-level", "warn")
	b.ResetTimer()
	probe := startGrainProbe(s1.Client(), 8)
	killed := time.Now()
	victim.Kill()
	// A survivor claims a task, records the lost attempt and starts the
	// next in one write, which also moves the task in the owner index: the
	// index (keys only, cheap to poll) shows when every task runs again.
	// Listing the tasks through a node instead would read every record
	// each time, which slows the survivors and blurs the figure.
	waitOwned(b, ctx, agent.Client().KV(), "granary/scale/owners/", "v", n)
	took := time.Since(killed)
	calls := probe.stop()
	b.StopTimer()
	// Check what the index said: every task running its second attempt on
	// a survivor.
	waitRunning(b, ctx, s1.Client(), n, func(st *api.Status) bool { return st.Owner != "v" && st.Attempts == 2 })
	b.ReportMetric(took.Seconds(), "s_failover")
	calls.report(b, "grain")
}

// waitOwned polls the owner index under prefix until n tasks are owned by
// members other than gone.
func waitOwned(b *testing.B, ctx context.Context, kv *consul.KV, prefix, gone string, n int) {
	b.Helper()
	pollCount(b, ctx, 20*time.Millisecond, "tasks owned by survivors", n, func() (int, error) {
		keys, _, err := kv.Keys(prefix, "", (&consul.QueryOptions{}).WithContext(ctx))
		count := 0
		for _, k := range keys {
			if !strings.HasPrefix(k, prefix+gone+"/") {
				count++
			}
		}
		return count, err
	})
}

// waitRunning polls until n tasks are running and pass ok.
func waitRunning(b *testing.B, ctx context.Context, c interface {
	List(context.Context, ...string) ([]*api.Status, error)
}, n int, ok func(*api.Status) bool) {
	b.Helper()
	pollCount(b, ctx, 100*time.Millisecond, "tasks running", n, func() (int, error) {
		list, err := c.List(ctx, api.StateRunning)
		count := 0
		for _, st := range list {
			if ok(st) {
				count++
			}
		}
		return count, err
	})
}

// pollCount calls count every interval until it reaches n without error,
// and fails the benchmark when ctx ends first.
func pollCount(b *testing.B, ctx context.Context, every time.Duration, what string, n int, count func() (int, error)) {
	b.Helper()
	for {
		got, err := count()
		if err == nil && got >= n {
			return
		}
		if ctx.Err() != nil {
			b.Fatalf("only %d of %d %s (%v)", got, n, what, err)
		}
		time.Sleep(every)
	}
}
