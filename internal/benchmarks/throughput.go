package benchmarks

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/node"
	bolt "go.etcd.io/bbolt"
)

// Callers is the number of concurrent clients in the throughput benchmarks.
const Callers = 32

// devNode is an in-process embedded node (node.New, as `granary dev`
// runs it) over a bbolt store in a temporary directory, served over real
// HTTP on loopback.
type devNode struct {
	n   *node.Node
	url string
	c   *client.Client
	dir string
	// goroutines were running before the node started: close waits for
	// the node's to end, so what a benchmark measures next is not the
	// previous node's leftovers being freed.
	goroutines int
}

func startDevNode(b *testing.B) *devNode {
	b.Helper()
	echo, err := actors.NewTask("echo", func(_ actors.TaskContext, p []byte) ([]byte, error) { return p, nil })
	if err != nil {
		b.Fatal(err)
	}
	return startDevNodeWith(b, echo)
}

// startDevNodeWith starts an in-process node running the given kinds.
func startDevNodeWith(b *testing.B, kinds ...*actors.TaskKind) *devNode {
	b.Helper()
	dir, err := os.MkdirTemp("", "granary-bench-")
	if err != nil {
		b.Fatal(err)
	}
	reg := actors.NewRegistry()
	for _, k := range kinds {
		if err := reg.RegisterTask(k); err != nil {
			b.Fatal(err)
		}
	}
	goroutines := runtime.NumGoroutine()
	cfg := node.DefaultConfig()
	cfg.Registry, cfg.NodeID, cfg.DataDir, cfg.HTTPAddr = reg, "bench", dir, "127.0.0.1:0"
	n, err := node.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return &devNode{n: n, url: "http://" + n.HTTPAddr(), c: n.Client(), dir: dir, goroutines: goroutines}
}

func (n *devNode) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.n.Stop(ctx)
	_ = os.RemoveAll(n.dir)
	// Attempts cut off by the stop end a little later (a few goroutines of
	// the HTTP client may idle on): wait, within a bound.
	for deadline := time.Now().Add(30 * time.Second); runtime.NumGoroutine() > n.goroutines+16 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
}

// count is the number of tasks in state on the node.
func (n *devNode) count(ctx context.Context, state string) (int, error) {
	sts, err := n.c.List(ctx, state)
	return len(sts), err
}

// parallel runs body(i) for i in [0, b.N) on Callers goroutines and reports
// the rate as tasks/s and this process's CPU per task as
// process-cpu-µs/op (the one-node benchmarks run their callers, client and
// node in this process: benchreport's issue #23 scorecard compares it with
// a raw write's).
func parallel(b *testing.B, body func(i int) error) {
	cpu := &cpuMeter{}
	cpu.add("process", 0)
	parallelN(b, Callers, 0, cpu, body)
}

// parallelN is parallel with the given number of callers, after warm
// untimed calls (body(i) for i in [b.N, b.N+warm)) that bring connections,
// batches and heaps to their working size; cpu (if not nil) measures the
// timed section.
func parallelN(b *testing.B, callers, warm int, cpu *cpuMeter, body func(i int) error) {
	b.ReportAllocs() // allocations per task: the node's CPU per task follows them
	if err := runAll(callers, b.N, b.N+warm, body); err != nil {
		b.Fatalf("warming up: %v", err)
	}
	b.ResetTimer()
	cpu.begin()
	start := time.Now()
	err := runAll(callers, 0, b.N, body)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tasks/s")
	cpu.report(b)
	if err != nil {
		b.Fatal(err)
	}
}

// runAll calls body(i) for i in [from, to) on callers goroutines; the first
// error stops its goroutine and is returned.
func runAll(callers, from, to int, body func(i int) error) error {
	next := atomic.Int64{}
	next.Store(int64(from))
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for w := 0; w < callers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= to {
					return
				}
				if err := body(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// EchoThroughputClient submits echo tasks through the Go client package and
// waits for each to complete (submit to committed result), from 32 callers:
// Submit, then WaitFrom its answer, which asks again only if that answer is
// not final (Wait would ask once more in any case).
func EchoThroughputClient(b *testing.B) {
	n := startDevNode(b)
	defer n.close()
	c, err := client.New(client.Config{Addr: n.url})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	parallel(b, func(i int) error {
		st, err := c.Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("c-%s-%d", run, i), Kind: "echo", Payload: json.RawMessage(`{"n":1}`)})
		if err != nil {
			return err
		}
		st, err = c.WaitFrom(ctx, st, nil)
		if err == nil && st.State != api.StateCompleted {
			err = fmt.Errorf("task %s ended %s", st.ID, st.State)
		}
		return err
	})
}

// EchoThroughputHTTP does the same with plain net/http requests against the
// HTTP/JSON API: POST /v1/tasks, then GET /v1/tasks/{id}?index=N long polls.
func EchoThroughputHTTP(b *testing.B) {
	n := startDevNode(b)
	defer n.close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: Callers}}
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	parallel(b, func(i int) error {
		body := fmt.Sprintf(`{"id":"h-%s-%d","kind":"echo","payload":{"n":1}}`, run, i)
		resp, err := hc.Post(n.url+"/v1/tasks", "application/json", bytes.NewBufferString(body))
		if err != nil {
			return err
		}
		var st api.Status
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			return err
		}
		for !st.Terminal() {
			resp, err := hc.Get(fmt.Sprintf("%s/v1/tasks/%s?index=%d&wait=30s", n.url, st.ID, st.Revision))
			if err != nil {
				return err
			}
			err = json.NewDecoder(resp.Body).Decode(&st)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
		}
		if st.State != api.StateCompleted {
			return fmt.Errorf("task %s ended %s", st.ID, st.State)
		}
		return nil
	})
}

// rawBatchDelay is BoltWrites' bbolt MaxBatchDelay: the 2 ms boltstore
// used with Batch before its group commit, kept so the baseline stays
// the one earlier runs measured.
const rawBatchDelay = 2 * time.Millisecond

// BoltWrites is the raw baseline of the embedded store: single-key bbolt
// writes through bbolt's Batch, fsynced, from 32 writers. A task costs two
// store writes (submit, stored claimed and running; commit).
func BoltWrites(b *testing.B) {
	dir, err := os.MkdirTemp("", "granary-bench-bolt-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := bolt.Open(filepath.Join(dir, "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.MaxBatchDelay = rawBatchDelay
	_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("k")); return err })
	val := make([]byte, 200)
	parallel(b, func(i int) error {
		return db.Batch(func(tx *bolt.Tx) error {
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], uint64(i))
			return tx.Bucket([]byte("k")).Put(k[:], val)
		})
	})
}
