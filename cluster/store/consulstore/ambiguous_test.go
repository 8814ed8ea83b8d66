package consulstore_test

import (
	"context"
	"testing"

	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/internal/netproxy"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/messages"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/proto"
)

// lossyStore is a store that reaches agent through a proxy, which can
// lose the answers of transactions that Consul committed.
func lossyStore(t *testing.T, cluster string) (*consulstore.Store, *netproxy.Proxy, *api.KV) {
	t.Helper()
	agent := testconsul.Start(t, testconsul.Options{})
	p, err := netproxy.New("127.0.0.1:0", agent.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := api.NewClient(&api.Config{Address: p.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := consulstore.DefaultConfig(cluster)
	cfg.ReconcileEvery = -1
	s, err := consulstore.New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, p, agent.Client().KV()
}

// TestWriteWhoseAnswerIsLostIsDecidedByReading is issue #22's ambiguous
// write: Consul commits a transaction and its answer is lost (a leader
// change, a dropped connection). The write's outcome is unknown, not
// failed: the store reads the task again before deciding, and reports the
// write that landed as done, with the revision Consul gave it; a retry
// of the same write is not a conflict either, and nothing is written
// twice.
func TestWriteWhoseAnswerIsLostIsDecidedByReading(t *testing.T) {
	s, p, kv := lossyStore(t, "ambiguous")
	ctx := context.Background()

	p.DropAnswers("PUT /v1/txn", 1)
	created, isNew, err := s.Create(ctx, storetest.NewTask("t1", "m1"))
	if err != nil || !isNew {
		t.Fatalf("Create whose answer was lost = %v, %v; want created (it committed)", isNew, err)
	}
	if p.Dropped() != 1 {
		t.Fatalf("the proxy dropped %d answers, want 1", p.Dropped())
	}

	next := proto.Clone(created.Task).(*messages.Task)
	next.Status.State = messages.TaskState_TASK_STATE_COMPLETED
	next.Status.Owner = ""
	p.DropAnswers("PUT /v1/txn", 1)
	done, err := s.Update(ctx, next, created.Revision)
	if err != nil {
		t.Fatalf("Update whose answer was lost: %v; want it reported done (it committed)", err)
	}
	pair, _, err := kv.Get("granary/ambiguous/tasks/t1", nil)
	if err != nil || pair == nil {
		t.Fatalf("reading the task: %v, %v", pair, err)
	}
	if done.Revision != pair.ModifyIndex {
		t.Errorf("Update answered revision %d, Consul holds %d", done.Revision, pair.ModifyIndex)
	}

	// The caller that heard nothing retries the same write: it landed
	// once, so the retry is answered with it, not refused.
	again, err := s.Update(ctx, next, created.Revision)
	if err != nil {
		t.Fatalf("retry of a write that landed: %v", err)
	}
	if again.Revision != pair.ModifyIndex {
		t.Errorf("retry answered revision %d, want the landed write's %d (written once)", again.Revision, pair.ModifyIndex)
	}
	if p.Dropped() != 2 {
		t.Errorf("the proxy dropped %d answers, want 2", p.Dropped())
	}
}
