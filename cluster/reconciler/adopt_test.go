package reconciler_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/placement"
	"github.com/granary-rt/granary/cluster/reconciler"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
)

// claimingStore is a task store holding the orphans of member "dead" and
// an activator whose adoptions are claimed one every claimEvery, as a
// busy Consul would: a claim moves the task into self's owner index,
// which WatchOwned (a blocking query) reports.
type claimingStore struct {
	orphans []store.Record

	mu          sync.Mutex
	changed     chan struct{} // closed and replaced at each claim
	index       uint64
	queue       []string // adopted, not yet claimed
	owned       []string
	adopted     map[string]int
	maxInFlight int
	stopped     bool
}

func newClaimingStore(n int) *claimingStore {
	s := &claimingStore{changed: make(chan struct{}), adopted: map[string]int{}}
	for i := 0; i < n; i++ {
		s.orphans = append(s.orphans, rec(fmt.Sprintf("t%04d", i), "echo", "dead", messages.TaskState_TASK_STATE_RUNNING))
	}
	return s
}

func (s *claimingStore) Owners(context.Context) ([]string, error) { return []string{"dead"}, nil }
func (s *claimingStore) List(_ context.Context, f store.Filter) ([]store.Record, error) {
	if f.Owner != "dead" {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Record
	for _, r := range s.orphans {
		if s.adopted[r.Task.GetSpec().GetId()] == 0 {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *claimingStore) WatchOwned(ctx context.Context, _ string, index uint64) ([]string, uint64, error) {
	s.mu.Lock()
	for s.index <= index && index != 0 {
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	return append([]string(nil), s.owned...), s.index, nil
}

func (s *claimingStore) Activate(string, bool) {}
func (s *claimingStore) Adopt(r store.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adopted[r.Task.GetSpec().GetId()]++
	s.queue = append(s.queue, r.Task.GetSpec().GetId())
	s.maxInFlight = max(s.maxInFlight, len(s.queue))
}

// claim claims the oldest adoption every every until ctx ends.
func (s *claimingStore) claim(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.mu.Lock()
		if len(s.queue) > 0 {
			s.owned = append(s.owned, s.queue[0])
			s.queue = s.queue[1:]
			s.index++
			close(s.changed)
			s.changed = make(chan struct{})
		}
		s.mu.Unlock()
	}
}

// TestAdoptionsInFlightAreBounded: a survivor adopting 600 orphans has at
// most AdoptInFlight of them sent and not yet claimed, and still adopts
// every one, each once. The sweep sent all 600 at once before.
func TestAdoptionsInFlightAreBounded(t *testing.T) {
	const n, bound = 600, 50
	s := newClaimingStore(n)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go s.claim(ctx, 200*time.Microsecond)
	cfg := reconciler.DefaultConfig()
	cfg.Member, cfg.Index, cfg.Tasks, cfg.AdoptInFlight = "me", s, s, bound
	r, err := reconciler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(r.Stop)
	r.SetView([]placement.Member{{ID: "me", Kinds: []string{"echo"}}})
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		adopted, inFlight := len(s.adopted), s.maxInFlight
		s.mu.Unlock()
		if inFlight > bound {
			t.Fatalf("%d adoptions in flight at once; want at most %d", inFlight, bound)
		}
		if adopted == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d orphans adopted after 30s", adopted, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, times := range s.adopted {
		if times != 1 {
			t.Errorf("%s adopted %d times; want once", id, times)
		}
	}
}
