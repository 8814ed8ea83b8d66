package benchmarks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/examples/kinds"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

// MemoryPerRunningTask measures the memory (heap and goroutine stacks) a
// node spends on each unfinished task whose attempt is running (task
// actor, the attempt, the goroutine the handler runs on, contexts,
// timers, the task's record): b.N tasks of a kind whose handler waits for
// its context and allocates nothing, on an in-process node, measured after
// GC before and after. Reports "B/task" (heap + stacks), "heap_B/task",
// "stack_B/task" and "granary_B/task": Granary's share, heap and stacks
// less the handler's own stack (the stack of an idle goroutine, 2 KB: each
// handler needs a goroutine; a real handler's stack grows from there).
func MemoryPerRunningTask(b *testing.B) {
	if b.N < 100 {
		return // testing's first run (b.N = 1): too few tasks to measure
	}
	n := startDevNodeWith(b, blockKind(b))
	defer n.close()
	// Warm up: the first tasks grow the node's maps and pools, and free
	// what its start left behind.
	const warm = 64
	submitBlocked(b, n, "w", warm)
	waitRunningTasks(b, n, warm)
	before := testutil.MemInUse()
	b.ResetTimer()
	submitBlocked(b, n, "m", b.N)
	waitRunningTasks(b, n, warm+b.N)
	b.StopTimer()
	after := testutil.MemInUse()
	reportPerTask(b, before.Heap+before.Stacks)
	per := func(x, y uint64) float64 { return (float64(x) - float64(y)) / float64(b.N) }
	b.ReportMetric(per(after.Heap, before.Heap), "heap_B/task")
	b.ReportMetric(per(after.Stacks, before.Stacks), "stack_B/task")
	b.ReportMetric(per(after.Heap+after.Stacks, before.Heap+before.Stacks)-testutil.GoroutineStack(b.N), "granary_B/task")
}

// submitBlocked submits n `block` tasks, ids prefix-0…
func submitBlocked(b *testing.B, n *devNode, prefix string, count int) {
	for i := 0; i < count; i++ {
		if _, err := n.c.Submit(context.Background(), api.SubmitRequest{ID: fmt.Sprintf("%s-%d", prefix, i), Kind: "block"}); err != nil {
			b.Fatal(err)
		}
	}
}

// waitRunningTasks waits, up to a minute, until want tasks are stored running.
func waitRunningTasks(b *testing.B, n *devNode, want int) {
	running, err := 0, error(nil)
	for deadline := time.Now().Add(time.Minute); running < want && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if running, err = n.count(context.Background(), "running"); err != nil {
			b.Fatal(err)
		}
	}
	if running < want {
		b.Fatalf("only %d of %d tasks running", running, want)
	}
}

// blockKind is a task kind whose attempts wait for their context to end
// and allocate nothing, so a running task's memory is Granary's alone.
func blockKind(b *testing.B) *actors.TaskKind {
	k, err := actors.NewTask("block", func(ctx actors.TaskContext, _ []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// MemoryPerPendingTask measures the memory a node spends on each
// unfinished task waiting for its next attempt (task actor and retry
// timer, no attempt running): b.N tasks whose first attempt failed and
// whose retry is an hour away. Reports "B/task".
func MemoryPerPendingTask(b *testing.B) {
	later, err := actors.NewTask("later", func(actors.TaskContext, []byte) ([]byte, error) {
		return nil, errors.New("not yet")
	}, actors.WithSettings(actors.Settings{MaxAttempts: 2, Backoff: supervisor.Backoff{Initial: time.Hour, Multiplier: 1, Max: time.Hour}}))
	if err != nil {
		b.Fatal(err)
	}
	n := startDevNodeWith(b, later)
	defer n.close()
	ctx := context.Background()
	// What the node freshly started, or an earlier benchmark of the same
	// process (benchreport), leaves to collect would be freed while the
	// tasks are added, and the heap would seem to shrink.
	settleHeap(10 * time.Second)
	before := heap()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := n.c.Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("p-%d", i), Kind: "later"}); err != nil {
			b.Fatal(err)
		}
	}
	waiting := 0
	for deadline := time.Now().Add(time.Minute); waiting < b.N && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if waiting, err = n.count(ctx, "retrying"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if running, err := n.count(ctx, "running"); waiting < b.N || running != 0 || err != nil {
		b.Fatalf("%d of %d tasks waiting to retry, %d running (%v)", waiting, b.N, running, err)
	}
	settleHeap(10 * time.Second)
	reportPerTask(b, before)
}

// reportPerTask reports the heap and stacks grown since before, per task;
// a heap that shrank means something else was freed meanwhile, and the
// figure would be meaningless.
func reportPerTask(b *testing.B, before uint64) {
	after := heap()
	if after < before {
		b.Fatalf("the heap shrank by %d bytes while %d tasks were added: something else was freed meanwhile", before-after, b.N)
	}
	b.ReportMetric(float64(after-before)/float64(b.N), "B/task")
}

// settleHeap waits, up to limit, until the heap stops shrinking: a task
// that waits lets go of its actor after its retry is stored.
func settleHeap(limit time.Duration) {
	for deadline, last := time.Now().Add(limit), heap(); time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		now := heap()
		if now >= last-last/100 {
			return
		}
		last = now
	}
}

func heap() uint64 {
	m := testutil.MemInUse()
	return m.Heap + m.Stacks // goroutine stacks count: each attempt has one
}

// StoreBytesPerCompletedTask stores b.N completed `echo` tasks (as the
// task manager leaves them: spec, status, result) in Consul KV and reports
// the bytes of their keys and values per task ("B/task").
func StoreBytesPerCompletedTask(b *testing.B) {
	agent := testconsul.Start(b, testconsul.Options{})
	s, err := consulstore.New(agent.Client(), consulstore.DefaultConfig("size"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	reg := actors.NewRegistry()
	if err := reg.RegisterTask(kinds.Echo); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t, err := tasks.BuildTask(reg, tasks.Submission{ID: fmt.Sprintf("c-%06d", i), Kind: "echo", Payload: json.RawMessage(`{"order":12345,"customer":"c-42"}`)}, "m1", time.Now())
		if err != nil {
			b.Fatal(err)
		}
		rec, _, err := s.Create(ctx, t)
		if err != nil {
			b.Fatal(err)
		}
		done := rec.Task
		done.Status.State = messages.TaskState_TASK_STATE_COMPLETED
		done.Status.Attempts, done.Status.Epoch, done.Status.Result = 1, 1, done.Spec.Payload
		done.Status.StartedAt, done.Status.FinishedAt = done.Status.SubmittedAt, done.Status.SubmittedAt
		if _, err := s.Update(ctx, done, rec.Revision); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	pairs, _, err := agent.Client().KV().List("granary/size/", nil)
	if err != nil {
		b.Fatal(err)
	}
	total := 0
	for _, p := range pairs {
		total += len(p.Key) + len(p.Value)
	}
	recs, _ := s.List(ctx, store.Filter{Unfinished: true})
	if len(recs) != 0 {
		b.Fatalf("%d tasks left unfinished", len(recs))
	}
	b.ReportMetric(float64(total)/float64(b.N), "B/task")
}
