package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	consul "github.com/hashicorp/consul/api"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
)

// FailoverReport is how often FailoverAtScale's sleep tasks report progress
// (and heartbeat): 5 s, not the sleep kind's 100 ms, since 20,000 reporting
// every 100 ms took a fifth of the member's CPU (issue #23). benchscale's
// -failover-report sets it to measure a member loaded with chattier tasks.
var FailoverReport = 5 * time.Second

// FailoverAtScale measures the failover of a member owning n unfinished
// tasks: it starts one node, submits n long sleep tasks (all owned by it;
// each reports progress every FailoverReport),
// starts two more nodes (running work is not reshuffled onto them), kills
// the first with SIGKILL and times until every task is running again on a
// survivor. It reports the seconds as "s_failover", and the p99 and worst
// latency ("grain-p99-ms", "grain-max-ms") and the errors ("grain-errors")
// of grain calls (whoami, 8 callers through a survivor, identities spread
// over every member) made from the kill until then, and, 30 s later
// (afterFailover), the times the survivors fenced themselves
// ("survivor-fences", from their logs) and the failed tasks
// ("tasks-failed"); b.N is ignored (one failover per call).
func FailoverAtScale(b *testing.B, n int) {
	agent := testconsul.Start(b, testconsul.Options{Mode: testconsul.Server})
	// --pprof: a CPU profile of the member while it loads tells where its
	// time goes when it fences itself (as 20,000 tasks made it do).
	victim := testnode.ClusterNode(b, "scale", agent.HTTPAddr(), "v", "--log-level", "warn", "--pprof")
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
			req := api.SubmitRequest{ID: fmt.Sprintf("scale-%05d", i), Kind: "sleep", Payload: json.RawMessage(fmt.Sprintf(`{"ms":600000,"report_ms":%d}`, FailoverReport.Milliseconds()))}
			_, err := c.Submit(ctx, req)
			for try := 1; err != nil && try < 5 && ctx.Err() == nil; try++ { // the same id again: one task (a loaded machine times out now and then)
				_, err = c.Submit(ctx, req)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "failover at scale: submit:", err) // benchscale runs this outside go test, which would not show b's log
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
	// Tasks that failed while loading (an attempt cut off on an overloaded
	// machine, out of retries) do not run: the failover is of those that
	// do once no task waits to start or to be retried.
	running := settledRunning(b, ctx, c)
	s1 := testnode.ClusterNode(b, "scale", agent.HTTPAddr(), "s1", "--log-level", "warn")
	s2 := testnode.ClusterNode(b, "scale", agent.HTTPAddr(), "s2", "--log-level", "warn")
	b.ResetTimer()
	probe := startGrainProbe(s1.Client(), 8)
	killed := time.Now()
	victim.Kill()
	// A survivor claims a task, records the lost attempt and starts the
	// next in one write, which also moves the task in the owner index: the
	// index (keys only, cheap to poll) shows when every task runs again.
	// Listing the tasks through a node instead would read every record
	// each time, which slows the survivors and blurs the figure.
	waitOwned(b, ctx, agent.Client().KV(), "granary/scale/owners/", "v", running)
	took := time.Since(killed)
	calls := probe.stop()
	b.StopTimer()
	// Survivors that fenced themselves under the adoption's load did so
	// within seconds, and each fencing cost every task they held an
	// attempt: watch for that a while past the takeover.
	time.Sleep(afterFailover)
	// What the index said: every task running again, on a survivor (or
	// failed, had the failover cost an attempt its last).
	after := settledRunning(b, ctx, s1.Client())
	if st, err := s1.Client().TaskStats(ctx); err == nil {
		b.ReportMetric(float64(st.ByState[api.StateFailed]), "tasks-failed")
	}
	b.ReportMetric(float64(selfFencings(b, s1)+selfFencings(b, s2)), "survivor-fences")
	b.ReportMetric(float64(running), "tasks-running")
	b.ReportMetric(float64(running-after), "tasks-not-running-after")
	b.ReportMetric(took.Seconds(), "s_failover")
	calls.report(b, "grain")
}

// afterFailover is how long FailoverAtScale keeps watching the survivors
// after every task runs again on one of them.
const afterFailover = 30 * time.Second

// selfFencings counts the times n fenced itself, from its log.
func selfFencings(b *testing.B, n *testnode.Node) int {
	b.Helper()
	log, err := os.ReadFile(n.LogPath)
	if err != nil {
		b.Fatal(err)
	}
	return strings.Count(string(log), `"msg":"self-fencing`)
}

// waitOwned polls the owner index under prefix until n tasks are owned by
// members other than gone: every 20 ms, or every 10 µs per task if that is
// longer (each poll lists n keys: every 20 ms, 20,000 keys made 50 MB/s of
// listings for Consul to answer during the failover it measures).
func waitOwned(b *testing.B, ctx context.Context, kv *consul.KV, prefix, gone string, n int) {
	b.Helper()
	every := max(20*time.Millisecond, time.Duration(n)*10*time.Microsecond)
	pollCount(b, ctx, every, "tasks owned by survivors", n, func() (int, error) {
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

// settledRunning waits until no task is pending or waiting for a retry
// (the counts, cheap at any size) and returns how many are running.
func settledRunning(b *testing.B, ctx context.Context, c *client.Client) int {
	b.Helper()
	for {
		st, err := c.TaskStats(ctx)
		if err == nil && st.ByState[api.StatePending] == 0 && st.ByState[api.StateRetrying] == 0 {
			return st.ByState[api.StateRunning]
		}
		if ctx.Err() != nil {
			b.Fatalf("tasks still pending or retrying: %v (%v)", st, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
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
