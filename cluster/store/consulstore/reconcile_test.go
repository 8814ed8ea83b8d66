package consulstore_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// newestIDs lists every task of s, newest first, in one page.
func newestIDs(t *testing.T, s store.Store) []string {
	t.Helper()
	recs, err := s.List(context.Background(), store.Filter{Order: store.NewestFirst, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.Task.GetSpec().GetId()
	}
	return ids
}

// waitListed polls s's newest tasks until they are want, in order.
func waitListed(t *testing.T, s store.Store, want []string, why string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := newestIDs(t, s)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: newest tasks after 30s = %v, want %v", why, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// oldMemberTask is a task as a member of a version without the index
// writes it (task key only), submitted at at.
func oldMemberTask(t *testing.T, kv *api.KV, cluster, id string, at time.Time) {
	t.Helper()
	task := storetest.NewTask(id, "old-member")
	task.Status.SubmittedAt = timestamppb.New(at)
	putOld(t, kv, cluster, task)
}

// waitMarker waits for the cluster's bytime-ready.
func waitMarker(t *testing.T, kv *api.KV, cluster string) {
	t.Helper()
	waitKey(t, kv, "granary/"+cluster+"/bytime-ready")
}

// TestReconcileAtOpenIndexesOlderMembersTasks: a member of an older
// version creates a task after the index is complete (a rolling upgrade):
// listings walking the index miss it; a store opening (a member starting)
// reconciles the index, and the task is listed, in its place.
func TestReconcileAtOpenIndexesOlderMembersTasks(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	kv := agent.Client().KV()
	off := consulstore.DefaultConfig("mixed")
	off.ReconcileEvery = -1
	s := newStore(t, agent, off)
	ctx := context.Background()
	if _, err := s.Reconcile(ctx); err != nil { // the marker
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	createMany(t, s, 50, at)
	oldMemberTask(t, kv, "mixed", "old-member", at.Add(25*time.Millisecond+time.Microsecond))
	var want []string
	for i := 49; i >= 0; i-- {
		want = append(want, fmt.Sprintf("t%04d", i))
		if i == 26 {
			want = append(want, "old-member")
		}
	}
	if got := newestIDs(t, s); slices.Contains(got, "old-member") {
		t.Fatalf("without a reconcile the index lists the older member's task: %v (the test no longer shows the gap)", got)
	}
	newStore(t, agent, consulstore.DefaultConfig("mixed")) // a member starting
	waitListed(t, s, want, "after a store opened")
}

// TestReconcilePeriodically: tasks an older member creates while the
// store runs are listed after its next periodic reconcile; an entry whose
// task was deleted behind the store's back (an older member's delete) is
// deleted by it.
func TestReconcilePeriodically(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	kv := agent.Client().KV()
	cfg := consulstore.DefaultConfig("tick")
	cfg.ReconcileSoon, cfg.ReconcileEvery = 50*time.Millisecond, 200*time.Millisecond
	s := newStore(t, agent, cfg)
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	createMany(t, s, 10, at)
	waitListed(t, s, []string{"t0009", "t0008", "t0007", "t0006", "t0005", "t0004", "t0003", "t0002", "t0001", "t0000"}, "tasks created through the store")
	waitMarker(t, kv, "tick") // listings walk the index from now on
	oldMemberTask(t, kv, "tick", "late", at.Add(time.Minute))
	oldMemberTask(t, kv, "tick", "early", at.Add(-time.Minute))
	if _, err := kv.Delete("granary/tick/tasks/t0004", nil); err != nil {
		t.Fatal(err)
	}
	waitListed(t, s, []string{"late", "t0009", "t0008", "t0007", "t0006", "t0005", "t0003", "t0002", "t0001", "t0000", "early"}, "after a periodic reconcile")
	deadline := time.Now().Add(30 * time.Second)
	for {
		keys, _, err := kv.Keys("granary/tick/bytime/", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 11 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("index entries after 30s: %d, want 11 (the orphan of t0004 deleted)", len(keys))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReconcileCompleteIndexReadsNoTasks: a reconcile of a complete index
// reads keys only, no task record. GRANARY_RECONCILE_TASKS sets how many
// tasks (default 1000); the log line reports its time and bytes.
func TestReconcileCompleteIndexReadsNoTasks(t *testing.T) {
	n := 1000
	if v := os.Getenv("GRANARY_RECONCILE_TASKS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("GRANARY_RECONCILE_TASKS=%q: want a positive number", v)
		}
	}
	agent := testconsul.Start(t, testconsul.Options{})
	rc, client := newReadCounter(t, agent, "whole")
	cfg := consulstore.DefaultConfig("whole")
	cfg.ReconcileEvery = -1
	s, err := consulstore.New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	createMany(t, s, n, time.Now().Add(-time.Hour))
	var r consulstore.Reconciled
	b0 := rc.bytes.Load()
	records, requests := rc.reads(func() { r, err = s.Reconcile(ctx) })
	bytes := rc.bytes.Load() - b0
	t.Logf("reconcile of a complete index of %d tasks: %s, %d requests, %d bytes read (%.1f MB), %d task records",
		n, r.Took, requests, bytes, float64(bytes)/1e6, records)
	if err != nil {
		t.Fatal(err)
	}
	if records != 0 || r.Indexed != 0 || r.Orphans != 0 || r.Tasks != n || r.Entries != n {
		t.Fatalf("reconcile of a complete index: %+v, %d task records read; want %d tasks and entries, nothing read, indexed or deleted", r, records, n)
	}
}
