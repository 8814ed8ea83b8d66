package grains_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/internal/testutil"
)

// blocker is a durable grain whose handler can be made to hang: "block"
// waits for the gate to open, ignoring its context (a handler that does
// not honour it), then adds n; "add" adds n; "get" reads. Every run of
// its handler is counted.
type blocker struct {
	gate    chan struct{}
	runs    atomic.Int64
	entered chan struct{} // a "block" run started
}

type blockReq struct {
	Op  string `json:"op"`
	N   int    `json:"n,omitempty"`
	Pad string `json:"pad,omitempty"`
}

type blockState struct {
	N int `json:"n"`
}

type blockResp struct {
	N          int    `json:"n"`
	Activation string `json:"activation"`
}

func newBlocker() *blocker {
	return &blocker{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
}

func (b *blocker) Receive(ctx actors.GrainContext, st blockState, req blockReq) (blockState, blockResp, error) {
	b.runs.Add(1)
	if req.Op == "block" {
		b.entered <- struct{}{}
		<-b.gate
	}
	st.N += req.N
	return st, blockResp{N: st.N, Activation: ctx.ActivationID()}, nil
}

// blockerNode starts member n1 hosting the blocker kind b (with the kind's
// handler time-out), its Config changed by tweak.
func (c *cluster) blockerNode(b *blocker, handlerTimeout time.Duration, tweak func(*grains.Config)) *node {
	t := c.t
	t.Helper()
	k, err := actors.GrainWithState("blocker", func() actors.StatefulGrain[blockReq, blockResp, blockState] { return b },
		actors.HandlerTimeout(handlerTimeout))
	if err != nil {
		t.Fatal(err)
	}
	reg := actors.NewRegistry()
	if err := reg.RegisterGrain(k); err != nil {
		t.Fatal(err)
	}
	n := c.tweakedNode("n1", reg, tweak)
	setViews([]*node{n}, n)
	return n
}

// tweakedNode starts member id hosting reg's kinds, its Config changed by
// tweak (nil: none), and stops it when the test ends.
func (c *cluster) tweakedNode(id string, reg *actors.Registry, tweak func(*grains.Config)) *node {
	t := c.t
	t.Helper()
	cfg := grains.DefaultConfig(id)
	cfg.Registry, cfg.System, cfg.Directory, cfg.State = reg, c.sys, c.dir, c.state
	cfg.Logger = testutil.Logger(t, slog.LevelError)
	if tweak != nil {
		tweak(&cfg)
	}
	h, err := grains.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Stop(testutil.Context(t, 5*time.Second)) })
	return &node{id: id, sys: c.sys, host: h}
}

func blockCall(n *node, identity string, timeout time.Duration, req blockReq) (blockResp, error) {
	payload, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var r blockResp
	resp, err := n.host.Call(ctx, "blocker", identity, payload)
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(resp.GetPayload(), &r)
}

// A handler that ignores its context is abandoned once its time-out and
// grace have passed: its caller gets a handler error, the identity is
// served again by a new activation, and what the hung handler returns
// later is neither stored nor answered. Before, the identity stayed
// wedged until the process restarted.
func TestHungHandlerIsAbandonedAndReplaced(t *testing.T) {
	c := newCluster(t)
	b := newBlocker()
	n := c.blockerNode(b, 100*time.Millisecond, func(cfg *grains.Config) { cfg.AbandonGrace = 100 * time.Millisecond })
	first, err := blockCall(n, "g", 5*time.Second, blockReq{Op: "add", N: 1})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = blockCall(n, "g", 10*time.Second, blockReq{Op: "block", N: 100})
	if !errors.Is(err, grains.ErrHandler) || !strings.Contains(err.Error(), "abandoned") {
		t.Fatalf("the hung call: %v, want ErrHandler saying it was abandoned", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("the hung call was answered after %v; want about its time-out and grace (200ms)", took)
	}
	if got := n.host.HungHandlers(); got != 1 {
		t.Fatalf("HungHandlers = %d, want 1", got)
	}
	next, err := blockCall(n, "g", 5*time.Second, blockReq{Op: "add", N: 10})
	if err != nil {
		t.Fatalf("the identity after the abandonment: %v", err)
	}
	if next.Activation == first.Activation || next.N != 11 {
		t.Fatalf("after the abandonment: %+v; want a new activation than %s, with 1+10", next, first.Activation)
	}
	close(b.gate) // the hung handler returns now: +100 must go nowhere
	eventually(t, 5*time.Second, func() bool { return n.host.HungHandlers() == 0 }, "the abandoned handler is no longer counted once it returned")
	if got, err := blockCall(n, "g", 5*time.Second, blockReq{Op: "get"}); err != nil || got.N != 11 {
		t.Fatalf("after the hung handler returned: %+v, %v; want 11 (its late write fenced)", got, err)
	}
}

// Requests whose caller gave up while they waited behind a slow handler
// are answered without running the handler, and what waited is released
// once the wedged activation is abandoned. Before, every one of them ran
// in turn after the slow one, and their payloads stayed in the mailbox
// for as long as the handler hung.
func TestExpiredRequestsAreDroppedAndReleased(t *testing.T) {
	c := newCluster(t)
	b := newBlocker()
	// The handler time-out leaves a loaded machine (CI runs packages side
	// by side under -race) ample time to queue every call behind the block
	// before the activation is abandoned: a call that arrives after it
	// meets a fresh activation and rightly runs.
	const handlerTimeout = 15 * time.Second // 8 s was too short on a CI machine with a load of 29: 14.6 s
	n := c.blockerNode(b, handlerTimeout, func(cfg *grains.Config) {
		cfg.AbandonGrace = 100 * time.Millisecond
		cfg.MaxQueuedBytes = 256 << 20
	})
	t.Cleanup(func() { close(b.gate) })
	go func() { _, _ = blockCall(n, "g", 2*handlerTimeout, blockReq{Op: "block"}) }()
	<-b.entered
	blocked := time.Now()
	base := heapAfterGC()
	const calls, size = 60, 200 << 10
	// Encoded once: under -race, JSON of 60 × 200 KiB is seconds of CPU,
	// and the calls' own decoding (GrainKind.Check) is already as much.
	payload, err := json.Marshal(blockReq{Op: "add", N: 1, Pad: strings.Repeat("x", size)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, _ = n.host.Call(ctx, "blocker", "g", payload)
		}()
	}
	wg.Wait() // every caller gave up
	if took := time.Since(blocked); took >= handlerTimeout {
		t.Fatalf("queueing the calls took %v, past the handler time-out (%v): they did not all wait behind the block", took, handlerTimeout)
	}
	payload = nil
	queued := heapAfterGC()
	// Waiting: about 12 MB of payloads, until the activation is abandoned
	// (handlerTimeout after the block started) and refuses them.
	eventually(t, 2*handlerTimeout, func() bool { return heapAfterGC() < base+(calls*size)/4 },
		fmt.Sprintf("the heap falls back near %d MB once the callers gave up and the wedged activation is abandoned", base>>20))
	t.Logf("heap: %d MB before, %d MB with the expired calls queued, %d MB after the abandonment", base>>20, queued>>20, heapAfterGC()>>20)
	if got := b.runs.Load(); got != 1 {
		t.Fatalf("the handler ran %d times; want 1 (the block): expired requests must not run", got)
	}
	r, err := blockCall(n, "g", 5*time.Second, blockReq{Op: "add", N: 1})
	if err != nil || r.N != 1 {
		t.Fatalf("after the expired requests: %+v, %v; want 1 (none of theirs applied)", r, err)
	}
}

func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// An activation's queue is bounded by count and by bytes: past either,
// calls are refused at once with ErrResourceExhausted (HTTP 429), and
// the grain serves the rest.
func TestActivationQueueIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tweak func(*grains.Config)
		pad   int
	}{
		{"count", func(cfg *grains.Config) { cfg.MaxQueued = 5 }, 0},
		{"bytes", func(cfg *grains.Config) { cfg.MaxQueuedBytes = 5 * (1<<10 + 100) }, 1 << 10}, // a payload is the pad and ~30 bytes
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			b := newBlocker()
			n := c.blockerNode(b, 5*time.Second, tc.tweak)
			go func() { _, _ = blockCall(n, "g", 10*time.Second, blockReq{Op: "block"}) }()
			<-b.entered
			var full atomic.Int64
			var wg sync.WaitGroup
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := blockCall(n, "g", 5*time.Second, blockReq{Op: "add", N: 1, Pad: strings.Repeat("x", tc.pad)})
					if errors.Is(err, grains.ErrResourceExhausted) {
						full.Add(1)
					}
				}()
			}
			eventually(t, 5*time.Second, func() bool { return full.Load() >= 14 }, "calls past the queue's bound are refused at once")
			close(b.gate)
			wg.Wait()
			if got := full.Load(); got > 15 {
				t.Fatalf("%d of 20 refused; want at most 15 (5 fit)", got)
			}
		})
	}
}

// eventually polls cond until it holds or d passes, then fails saying why.
func eventually(t *testing.T, d time.Duration, cond func() bool, why string) {
	t.Helper()
	testutil.Eventually(t, d, func() (bool, string) { return cond(), why })
}
