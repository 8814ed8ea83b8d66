package consulstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
)

func TestConformance(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	n := 0
	storetest.Run(t, func(t *testing.T) store.Store {
		n++
		s, err := consulstore.New(agent.Client(), consulstore.DefaultConfig("conf"+string(rune('a'+n))))
		if err != nil {
			t.Fatal(err)
		}
		// An empty store: the index is ready at once, so every listing
		// of the newest tasks below walks it.
		if _, err := s.Backfill(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestBatchedWritesKeepTheirOwnResults moves many tasks between owners
// concurrently, so transactions mix creates, owner changes (delete + set)
// and plain updates, and checks every task and the owner index after.
func TestBatchedWritesKeepTheirOwnResults(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	s := newStore(t, agent, consulstore.DefaultConfig("batch"))
	ctx := context.Background()
	const n = 120
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("t%03d", i)
			rec, _, err := s.Create(ctx, storetest.NewTask(id, "m1"))
			if err != nil {
				t.Errorf("Create %s: %v", id, err)
				return
			}
			for step := 0; step < 3; step++ {
				next := proto.Clone(rec.Task).(*messages.Task)
				next.Status.Owner = fmt.Sprintf("m%d", 2+(i+step)%2)
				next.Status.Epoch++
				if step == 2 && i%2 == 0 {
					next.Status.State = messages.TaskState_TASK_STATE_COMPLETED
				}
				got, err := s.Update(ctx, next, rec.Revision)
				if err != nil {
					t.Errorf("Update %s step %d: %v", id, step, err)
					return
				}
				if got.Revision <= rec.Revision {
					t.Errorf("%s: revision %d after %d", id, got.Revision, rec.Revision)
				}
				rec = got
			}
			stored, err := s.Get(ctx, id)
			if err != nil || stored.Revision != rec.Revision || stored.Task.GetStatus().GetEpoch() != 3 {
				t.Errorf("%s stored at %d epoch %d (%v), want %d and 3", id, stored.Revision, stored.Task.GetStatus().GetEpoch(), err, rec.Revision)
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, owner := range []string{"m1", "m2", "m3"} {
		recs, err := s.List(ctx, store.Filter{Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Task.GetStatus().GetOwner() != owner || store.Terminal(r.Task.GetStatus().GetState()) {
				t.Errorf("owner index of %s lists %s (owner %s, %s)", owner, r.Task.GetSpec().GetId(), r.Task.GetStatus().GetOwner(), r.Task.GetStatus().GetState())
			}
		}
		total += len(recs)
	}
	if total != n/2 {
		t.Fatalf("owner index holds %d unfinished tasks, want %d", total, n/2)
	}
}

// TestListManyOwnedTasks covers the listing path used at failover, when a
// member owned more tasks than are worth reading one by one.
func TestListManyOwnedTasks(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	s := newStore(t, agent, consulstore.DefaultConfig("many"))
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 150; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := "dead"
			if i%3 == 0 {
				owner = "alive"
			}
			if _, _, err := s.Create(ctx, storetest.NewTask(fmt.Sprintf("t%03d", i), owner)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	recs, err := s.List(ctx, store.Filter{Owner: "dead"})
	if err != nil || len(recs) != 100 {
		t.Fatalf("List(owner dead) = %d tasks, %v; want 100", len(recs), err)
	}
	for _, r := range recs {
		if r.Task.GetStatus().GetOwner() != "dead" {
			t.Fatalf("listed %s owned by %s", r.Task.GetSpec().GetId(), r.Task.GetStatus().GetOwner())
		}
	}
}

// TestListReadsIndexedTasksByID: a job's tasks, and a member's few, are
// read by id in transactions of many reads, in id order; an index entry
// whose task is gone (deleted behind the store's back) is left out, and
// the rest are still read.
func TestListReadsIndexedTasksByID(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	s := newStore(t, agent, consulstore.DefaultConfig("byid"))
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 250; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			task := storetest.NewTask(fmt.Sprintf("t%03d", i), "m1")
			if i < 150 {
				task.Spec.JobId = "big"
			}
			if i >= 200 {
				task.Status.Owner = "few"
			}
			if _, _, err := s.Create(ctx, task); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Gone behind the store's back: the job's 70th task and one of "few".
	for _, id := range []string{"t070", "t210"} {
		if _, err := agent.Client().KV().Delete("granary/byid/tasks/"+id, nil); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := s.List(ctx, store.Filter{JobID: "big"})
	if err != nil || len(recs) != 149 {
		t.Fatalf("List(job big) = %d tasks, %v; want 149", len(recs), err)
	}
	for i, r := range recs {
		want := i
		if i >= 70 {
			want++
		}
		if id := r.Task.GetSpec().GetId(); id != fmt.Sprintf("t%03d", want) || r.Task.GetSpec().GetJobId() != "big" {
			t.Fatalf("job listing, item %d: %s of job %q", i, id, r.Task.GetSpec().GetJobId())
		}
	}
	few, err := s.List(ctx, store.Filter{Owner: "few", Limit: 10})
	if err != nil || len(few) != 10 || few[0].Task.GetSpec().GetId() != "t200" || few[9].Task.GetSpec().GetId() != "t209" {
		t.Fatalf("List(owner few, limit 10) = %d tasks, %v", len(few), err)
	}
	all, err := s.List(ctx, store.Filter{Owner: "few"})
	if err != nil || len(all) != 49 {
		t.Fatalf("List(owner few) = %d tasks, %v; want 49", len(all), err)
	}
}

// TestWatchHearsOfObservedChanges: a task handed to another member is
// expected to be told of (Expect); its owner's record arrives through
// Observe and wakes Watch with no Consul query; an older record is ignored;
// once the expectation lapses, Watch asks Consul.
func TestWatchHearsOfObservedChanges(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	cfg := consulstore.DefaultConfig("observe")
	owner := newStore(t, agent, cfg)
	submitter := newStore(t, agent, cfg)
	ctx := context.Background()
	rec, _, err := owner.Create(ctx, storetest.NewTask("handed", "owner"))
	if err != nil {
		t.Fatal(err)
	}
	submitter.Expect("handed", time.Now().Add(time.Minute))
	done := proto.Clone(rec.Task).(*messages.Task)
	done.Status.State = messages.TaskState_TASK_STATE_COMPLETED
	committed, err := owner.Update(ctx, done, rec.Revision)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan store.Record, 1)
	go func() {
		r, err := submitter.Watch(ctx, "handed", rec.Revision)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	select {
	case r := <-got:
		t.Fatalf("Watch answered %v before it was told, while a push was expected", r.Task.GetStatus().GetState())
	case <-time.After(300 * time.Millisecond):
	}
	submitter.Observe(rec) // older than anything Watch waits for: ignored
	submitter.Observe(committed)
	select {
	case r := <-got:
		if r.Revision != committed.Revision || r.Task.GetStatus().GetState() != messages.TaskState_TASK_STATE_COMPLETED {
			t.Fatalf("Watch = %v@%d, want completed@%d", r.Task.GetStatus().GetState(), r.Revision, committed.Revision)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not wake on the observed change")
	}

	// Nobody tells: once the expectation lapses, Watch asks Consul.
	rec2, _, err := owner.Create(ctx, storetest.NewTask("silent", "owner"))
	if err != nil {
		t.Fatal(err)
	}
	submitter.Expect("silent", time.Now().Add(200*time.Millisecond))
	next := proto.Clone(rec2.Task).(*messages.Task)
	next.Status.State = messages.TaskState_TASK_STATE_RUNNING
	if _, err := owner.Update(ctx, next, rec2.Revision); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := submitter.Watch(wctx, "silent", rec2.Revision)
	if err != nil || r.Task.GetStatus().GetState() != messages.TaskState_TASK_STATE_RUNNING {
		t.Fatalf("Watch after the expectation lapsed = %v, %v; want running, read from Consul", r.Task.GetStatus().GetState(), err)
	}
}

// TestExistsSharesReads checks many tasks at once from a store that did
// not write them, so the answers come from shared Consul transactions:
// each check must get its own key's answer.
func TestExistsSharesReads(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	writer := newStore(t, agent, consulstore.DefaultConfig("probe"))
	reader := newStore(t, agent, consulstore.DefaultConfig("probe"))
	ctx := context.Background()
	const n = 200
	for i := 0; i < n; i += 3 {
		if _, _, err := writer.Create(ctx, storetest.NewTask(fmt.Sprintf("p%03d", i), "m1")); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("p%03d", i)
			found, err := reader.Exists(ctx, id)
			if err != nil || found != (i%3 == 0) {
				t.Errorf("Exists(%s) = %v, %v; want %v", id, found, err, i%3 == 0)
			}
		}()
	}
	wg.Wait()
}

// newStore is a store on agent with cfg, closed when the test ends.
func newStore(t *testing.T, agent *testconsul.Agent, cfg consulstore.Config) *consulstore.Store {
	t.Helper()
	s, err := consulstore.New(agent.Client(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
