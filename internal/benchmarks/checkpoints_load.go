package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/messages"
)

// CheckpointLoad measures what frequent checkpoints of many running tasks
// do to the durable throughput of other tasks: one disk-backed Consul
// server (bin/consul -server), one task manager of this process on the
// Consul task store, taskCount running tasks that each ask for a
// checkpoint every period (without waiting for the last one: the runtime
// coalesces, at most one write in flight per task), and Callers callers
// submitting echo tasks and waiting for each committed result. rounds
// rounds of window per side, checkpointers running and held, the sides
// taking turns. It reports the median echo tasks/s of each side
// ("echo-with/s", "echo-without/s"), the checkpoints asked for and stored
// per second while running ("ckpt-calls/s", "ckpt-writes/s"), and the
// seconds it took to start the tasks ("start-s"), and the echo tasks whose
// submit or wait failed ("echo-failed", all rounds). b.N is ignored.
func CheckpointLoad(b *testing.B, rounds, taskCount int, period, window time.Duration) {
	agent := testconsul.Start(b, testconsul.Options{Mode: testconsul.Server})
	cs, err := consulstore.New(nodeStoreClient(b, agent), consulstore.DefaultConfig("bench"))
	if err != nil {
		b.Fatal(err)
	}
	s := &countingStore{Store: cs, kind: "cpl"}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	l := &checkpointLoad{g: newGate(), period: period}
	begun := time.Now()
	defer l.start(ctx, b, s, taskCount)()
	l.warmUp(ctx, b, taskCount)
	started := time.Since(begun)
	echo(ctx, b, l.m, "w", durableWarmup/4, 0) // fills pools and batches before the clock
	echoFailed.Store(0)
	b.ResetTimer()
	var with, without, calls, writes []float64
	for round := range rounds {
		sides := []func(){
			func() {
				c, w, e := l.loaded(ctx, b, s, window)
				calls, writes, with = append(calls, c), append(writes, w), append(with, e)
			},
			func() { without = append(without, echoRate(ctx, b, l.m, fmt.Sprintf("n%d", round), window)) },
		}
		if round%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for _, side := range sides {
			side()
		}
	}
	b.StopTimer()
	med := func(xs []float64) float64 { return medianOf(xs, func(v float64) float64 { return v }) }
	b.ReportMetric(med(with), "echo-with/s")
	b.ReportMetric(med(without), "echo-without/s")
	b.ReportMetric(med(calls), "ckpt-calls/s")
	b.ReportMetric(med(writes), "ckpt-writes/s")
	b.ReportMetric(started.Seconds(), "start-s")
	b.ReportMetric(float64(echoFailed.Swap(0)), "echo-failed")
}

// countingStore is the Consul task store counting the updates of one
// kind's tasks that landed: while the benchmark's checkpointers run, their
// only writes are checkpoints.
type countingStore struct {
	*consulstore.Store
	kind   string
	writes atomic.Int64
}

// Update implements store.Store.
func (s *countingStore) Update(ctx context.Context, t *messages.Task, rev uint64) (store.Record, error) {
	rec, err := s.Store.Update(ctx, t, rev)
	if err == nil && t.GetSpec().GetKind() == s.kind {
		s.writes.Add(1)
	}
	return rec, err
}

// checkpointLoad is the benchmark's checkpointing tasks: while g is open
// each asks for a checkpoint every period, in a goroutine of its own so a
// slow write never delays the next; calls counts the checkpoints answered
// as stored, outstanding the ones not answered yet.
type checkpointLoad struct {
	g           *gate
	period      time.Duration
	m           *tasks.Manager
	running     atomic.Int64
	calls       atomic.Int64
	outstanding atomic.Int64
}

// maxOutstanding bounds the unanswered checkpoints of one task: one in
// flight and the rest waiting for the next write, which carries the
// latest of them. More would only add goroutines waiting for that write.
const maxOutstanding = 4

// handler is the checkpointing kind's handler.
func (l *checkpointLoad) handler(ctx actors.TaskContext, _ struct{}) (int, error) {
	l.running.Add(1)
	st, _, _ := actors.Resume[CheckpointState](ctx)
	tick := time.NewTicker(l.period)
	defer tick.Stop()
	var mine atomic.Int64
	for {
		select {
		case <-ctx.Done():
			return st.Step, nil
		case <-tick.C:
		}
		select {
		case <-l.g.open():
		default:
			continue
		}
		if mine.Load() >= maxOutstanding {
			continue
		}
		st.Step++
		st.Cursor = fmt.Sprintf("cursor-%016d", st.Step)
		mine.Add(1)
		l.outstanding.Add(1)
		go func(v CheckpointState) {
			defer l.outstanding.Add(-1)
			defer mine.Add(-1)
			if actors.SaveCheckpoint(ctx, v) == nil {
				l.calls.Add(1)
			}
		}(st)
	}
}

// start runs a task manager on s with the checkpointing kind and an echo
// kind, submits taskCount checkpointing tasks, and returns what stops it.
func (l *checkpointLoad) start(ctx context.Context, b *testing.B, s store.Store, taskCount int) (stop func()) {
	m, stop := startManager(ctx, b, s,
		actors.MustTask("cpl", l.handler, actors.WithAttemptTimeout(0)),
		actors.MustTask("echo", func(_ actors.TaskContext, in json.RawMessage) (json.RawMessage, error) { return in, nil }))
	l.m = m
	err := forEach(ctx, Callers, taskCount, func(i int) error {
		_, _, err := m.Submit(ctx, tasks.Submission{ID: fmt.Sprintf("cpl-%d", i), Kind: "cpl"})
		return err
	})
	if err != nil {
		stop()
		b.Fatal(err)
	}
	return stop
}

// warmUp waits until every task runs, then lets them checkpoint for two
// periods, so each has stored one and the writes' pools are warm.
func (l *checkpointLoad) warmUp(ctx context.Context, b *testing.B, taskCount int) {
	for l.running.Load() < int64(taskCount) {
		if ctx.Err() != nil {
			b.Fatalf("warm-up: %d of %d tasks running: %v", l.running.Load(), taskCount, ctx.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.g.set(true)
	time.Sleep(2 * l.period)
	l.hold(ctx, b)
}

// hold closes the gate and waits until every checkpoint asked for is
// answered, so none lands in the other side's window.
func (l *checkpointLoad) hold(ctx context.Context, b *testing.B) {
	l.g.set(false)
	for l.outstanding.Load() > 0 {
		if ctx.Err() != nil {
			b.Fatalf("%d checkpoints unanswered: %v", l.outstanding.Load(), ctx.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// loaded is one round with the checkpointers running: after a period of
// lead (every task has asked once), the echo rate over window, with the
// checkpoints answered and the checkpoint writes landed per second in it.
func (l *checkpointLoad) loaded(ctx context.Context, b *testing.B, s *countingStore, window time.Duration) (calls, writes, echoes float64) {
	l.g.set(true)
	time.Sleep(l.period)
	c0, w0 := l.calls.Load(), s.writes.Load()
	echoes = echoRate(ctx, b, l.m, fmt.Sprintf("c%d", c0), window)
	calls = float64(l.calls.Load()-c0) / window.Seconds()
	writes = float64(s.writes.Load()-w0) / window.Seconds()
	l.hold(ctx, b)
	return calls, writes, echoes
}

// echoRate runs Callers callers submitting echo tasks for window and
// returns the tasks committed per second.
func echoRate(ctx context.Context, b *testing.B, m *tasks.Manager, prefix string, window time.Duration) float64 {
	return float64(echo(ctx, b, m, prefix, 0, window)) / window.Seconds()
}

// echo runs Callers callers, each submitting echo tasks and waiting for
// each committed result, until n tasks are done (n > 0) or for window;
// it returns the tasks done. A failed one is counted in echoFailed.
func echo(ctx context.Context, b *testing.B, m *tasks.Manager, prefix string, n int, window time.Duration) int64 {
	var done, failed atomic.Int64
	var wg sync.WaitGroup
	until := time.Now().Add(window)
	more := func() bool {
		if n > 0 {
			return done.Load() < int64(n)
		}
		return time.Now().Before(until)
	}
	run := rand.Int64()
	for c := range Callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; more(); i++ {
				if err := echoOnce(ctx, m, fmt.Sprintf("e-%x-%s-%d-%d", run, prefix, c, i)); err != nil {
					if failed.Add(1) == 1 {
						b.Logf("echo task: %v", err)
					}
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	echoFailed.Add(failed.Load())
	return done.Load()
}

// echoFailed counts the echo tasks whose submit or wait failed (the store
// timed out under load): CheckpointLoad reports them, they are not done.
var echoFailed atomic.Int64

// echoOnce submits an echo task and waits until it is committed.
func echoOnce(ctx context.Context, m *tasks.Manager, id string) error {
	rec, _, err := m.Submit(ctx, tasks.Submission{ID: id, Kind: "echo", Payload: []byte(`{"n":1}`)})
	for err == nil && !store.Terminal(rec.Task.GetStatus().GetState()) {
		rec, err = m.Wait(ctx, id, rec.Revision)
	}
	if err == nil && rec.Task.GetStatus().GetState() != messages.TaskState_TASK_STATE_COMPLETED {
		err = fmt.Errorf("echo task %s ended %s", id, rec.Task.GetStatus().GetState())
	}
	return err
}

// forEach calls fn(i) for i in [0, n) from workers goroutines, and returns
// the first error.
func forEach(ctx context.Context, workers, n int, fn func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// startManager runs a task manager of this process on s with kinds
// registered, and returns it with what stops it.
func startManager(ctx context.Context, b *testing.B, s store.Store, kinds ...*actors.TaskKind) (*tasks.Manager, func()) {
	reg := actors.NewRegistry()
	for _, k := range kinds {
		if err := reg.RegisterTask(k); err != nil {
			b.Fatal(err)
		}
	}
	cfg := tasks.DefaultConfig("bench-1")
	cfg.Store, cfg.Registry = s, reg
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := tasks.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		b.Fatal(err)
	}
	return m, func() {
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		_ = m.Stop(sctx)
	}
}
