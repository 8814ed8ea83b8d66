package consulstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestListOwnedAmongManyFinishedReadsItsOwn: a member's unfinished tasks
// (List with Owner: its recovery after fencing itself, an adoption) are
// read by id when the store holds many more tasks, here 100 among 1000
// finished ones, rather than by a listing of every task (at 1,000,000
// stored that listing was hundreds of MB from Consul per recovery).
func TestListOwnedAmongManyFinishedReadsItsOwn(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	rc, client := newReadCounter(t, agent, "owned")
	s := indexedStore(t, client, consulstore.DefaultConfig("owned"))
	waitCountsMade(t, agent.Client().KV(), "owned")
	ctx := context.Background()
	const finished, owned = 1000, 100
	storetest.CreateMany(t, s, finished, func(i int) *messages.Task {
		task := storetest.NewTask(fmt.Sprintf("f%04d", i), "m1")
		task.Status.State = messages.TaskState_TASK_STATE_COMPLETED
		task.Status.FinishedAt = timestamppb.Now()
		return task
	})
	storetest.CreateMany(t, s, owned, func(i int) *messages.Task { return storetest.NewTask(fmt.Sprintf("o%04d", i), "m1") })
	var recs []store.Record
	var err error
	records, requests := rc.reads(func() { recs, err = s.List(ctx, store.Filter{Owner: "m1"}) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the %d tasks of a member among %d: %d task records read in %d requests", owned, owned+finished, records, requests)
	if len(recs) != owned {
		t.Fatalf("listed %d tasks of m1, want its %d unfinished ones", len(recs), owned)
	}
	if records > owned {
		t.Fatalf("listing m1's %d tasks read %d task records, want at most %d (not every task)", owned, records, owned)
	}
}
