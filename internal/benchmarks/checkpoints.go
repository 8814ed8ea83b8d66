package benchmarks

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testconsul"
	consul "github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/proto"
)

// CheckpointState is what each benchmark task checkpoints: a step and a
// cursor, a progress marker of the usual size.
type CheckpointState struct {
	Step   int    `json:"step"`
	Cursor string `json:"cursor"`
}

// Checkpoints measures the checkpoints per second one member sustains
// against raw Consul KV puts, in the same run: one disk-backed Consul
// server (bin/consul -server), one task manager of this process on the
// Consul task store, running tasks tasks that each checkpoint in a loop
// (a save is answered once stored; the next follows at once), and the
// same number of raw writers putting values of a task's record size to as
// many keys. rounds rounds of window per side, the sides taking turns;
// it reports each side's median rate ("checkpoints/s", "raw-puts/s") and
// the record's size. b.N is ignored.
func Checkpoints(b *testing.B, rounds, taskCount int, window time.Duration) {
	agent := testconsul.Start(b, testconsul.Options{Mode: testconsul.Server})
	s, err := consulstore.New(nodeStoreClient(b, agent), consulstore.DefaultConfig("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cp := &checkpointers{g: newGate()}
	defer cp.start(ctx, b, s, taskCount)()
	cp.warmUp(ctx, b, taskCount)
	rec, err := s.Get(ctx, "cp-0")
	if err != nil {
		b.Fatal(err)
	}
	size := proto.Size(rec.Task)
	value := make([]byte, size)
	b.ResetTimer()
	cps, raws := cp.rounds(ctx, b, agent.Client().KV(), value, rounds, taskCount, window)
	b.StopTimer()
	med := func(xs []float64) float64 { return medianOf(xs, func(v float64) float64 { return v }) }
	b.ReportMetric(med(cps), "checkpoints/s")
	b.ReportMetric(med(raws), "raw-puts/s")
	b.ReportMetric(float64(size), "record-bytes")
}

// checkpointers are the benchmark's tasks: each checkpoints in a loop
// while g is open, counting the checkpoints stored in saved.
type checkpointers struct {
	g     *gate
	saved atomic.Int64
}

// start runs a task manager on s with taskCount checkpointing tasks
// submitted, and returns what stops it.
func (cp *checkpointers) start(ctx context.Context, b *testing.B, s *consulstore.Store, taskCount int) (stop func()) {
	kind := actors.MustTask("cp", func(ctx actors.TaskContext, _ struct{}) (int, error) {
		st, _, _ := actors.Resume[CheckpointState](ctx)
		for {
			select {
			case <-cp.g.open():
			case <-ctx.Done():
				return st.Step, nil
			}
			st.Step++
			st.Cursor = fmt.Sprintf("cursor-%016d", st.Step)
			if err := actors.SaveCheckpoint(ctx, st); err != nil {
				return st.Step, actors.Permanent(err)
			}
			cp.saved.Add(1)
		}
	}, actors.WithAttemptTimeout(0))
	m, stop := startManager(ctx, b, s, kind)
	for i := range taskCount {
		if _, _, err := m.Submit(ctx, tasks.Submission{ID: fmt.Sprintf("cp-%d", i), Kind: "cp"}); err != nil {
			stop()
			b.Fatal(err)
		}
	}
	return stop
}

// warmUp opens the gate until every task has stored a few checkpoints.
func (cp *checkpointers) warmUp(ctx context.Context, b *testing.B, taskCount int) {
	cp.g.set(true)
	for cp.saved.Load() < int64(4*taskCount) {
		if ctx.Err() != nil {
			b.Fatalf("warm-up: %d checkpoints stored: %v", cp.saved.Load(), ctx.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cp.g.set(false)
}

// rounds measures rounds rounds of window per side, the sides taking
// turns: the checkpoints per second, and the raw puts per second of as
// many writers as tasks.
func (cp *checkpointers) rounds(ctx context.Context, b *testing.B, kv *consul.KV, value []byte, rounds, taskCount int, window time.Duration) (cps, raws []float64) {
	for round := range rounds {
		sides := []func(){
			func() {
				before := cp.saved.Load()
				cp.g.set(true)
				time.Sleep(window)
				cp.g.set(false)
				cps = append(cps, float64(cp.saved.Load()-before)/window.Seconds())
			},
			func() { raws = append(raws, rawPuts(ctx, b, kv, value, taskCount, window)) },
		}
		if round%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for _, side := range sides {
			side()
		}
	}
	return cps, raws
}

// rawPuts puts value from writers goroutines to as many keys for window,
// and returns the puts per second.
func rawPuts(ctx context.Context, b *testing.B, kv *consul.KV, value []byte, writers int, window time.Duration) float64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	until := time.Now().Add(window)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(until) {
				if _, err := kv.Put(&consul.KVPair{Key: fmt.Sprintf("bench/raw/cp%d", w), Value: value}, (&consul.WriteOptions{}).WithContext(ctx)); err != nil {
					b.Error(err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / window.Seconds()
}

// gate holds the benchmark's handlers between rounds: open returns a
// channel that is closed while the gate is open.
type gate struct {
	mu sync.Mutex
	ch chan struct{}
}

func newGate() *gate { return &gate{ch: make(chan struct{})} }

func (g *gate) open() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ch
}

func (g *gate) set(open bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.ch: // open now
		if !open {
			g.ch = make(chan struct{})
		}
	default:
		if open {
			close(g.ch)
		}
	}
}

// nodeStoreClient is a Consul client for agent built as a granary node
// builds its task store's (node.ConsulConfig): at most 96 connections at
// once, under Consul's 200 per client address. The test rig's own client
// has no bound, and a store on it opened a connection per write in flight
// (over 1,000 with 3,000 tasks checkpointing), which Consul refused with
// 429s: a collapse no node would see.
func nodeStoreClient(b *testing.B, agent *testconsul.Agent) *consul.Client {
	c, err := consul.NewClient(node.ConsulConfig(agent.HTTPAddr()))
	if err != nil {
		b.Fatal(err)
	}
	return c
}
