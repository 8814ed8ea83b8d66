package consulstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/hashicorp/consul/api"
)

// apiPages lists pages of the newest tasks as GET /v1/tasks reads a page
// of 100 from the store: chunks of 9 (8 and one more, httpapi.readPage),
// each after the previous one's last task. For each chunk it checks the
// order and the task records and index entries read (at most maxEntries),
// and that each chunk after the first makes at most 3+extra requests: the
// hours, the cursor's second, the read of its tasks (listing the minutes
// of an hour goes through every key of the hour in Consul).
func apiPages(t *testing.T, s store.Store, rc *readCounter, chunks int, newest, maxEntries int, extra int64) {
	t.Helper()
	ctx := context.Background()
	f := store.Filter{Order: store.NewestFirst, Limit: 9}
	next := newest
	for c := range chunks {
		var recs []store.Record
		var err error
		e0 := rc.entries.Load()
		records, requests := rc.reads(func() { recs, err = s.List(ctx, f) })
		entries := rc.entries.Load() - e0
		if err != nil {
			t.Fatal(err)
		}
		if c == 0 {
			t.Logf("a chunk of 9: %d task records and %d index entries read in %d requests", records, entries, requests)
		}
		if len(recs) != 9 {
			t.Fatalf("chunk %d: %d tasks, want 9", c, len(recs))
		}
		for i, r := range recs {
			if want := fmt.Sprintf("t%04d", next-i); r.Task.GetSpec().GetId() != want {
				t.Fatalf("chunk %d item %d is %s, want %s", c, i, r.Task.GetSpec().GetId(), want)
			}
		}
		if records > 9 || entries > int64(maxEntries) {
			t.Fatalf("chunk %d read %d task records and listed %d index entries; want at most 9 and %d", c, records, entries, maxEntries)
		}
		if c > 0 && requests > 3+extra {
			t.Fatalf("chunk %d made %d requests to Consul, want at most %d (hours, the cursor's second, its tasks)", c, requests, 3+extra)
		}
		last := store.PositionOf(recs[7].Task)
		f.After = &last
		next -= 8
	}
}

// TestListNewestBurstListsAboutASecond: tasks stored in a burst (10,000
// in 20 s, as 450 tasks/s for a few minutes stored them in issue #23's
// run) into a fresh store: each chunk of a page of the newest lists about
// a second of index entries (500), not every entry of the burst's minutes
// (a walk that started by minutes listed all 10,000 for each chunk, and
// GET /v1/tasks took 17.7 s at 100,000 tasks).
func TestListNewestBurstListsAboutASecond(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	rc, client := newReadCounter(t, agent, "burst")
	s, err := consulstore.New(client, consulstore.DefaultConfig("burst")) // indexed as it opens
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	const n = 10000
	at := time.Now().Truncate(time.Minute).Add(-2 * time.Minute)
	createSpaced(t, s, n, at, 2*time.Millisecond)
	waitMarker(t, agent.Client().KV(), "burst")
	apiPages(t, s, rc, 12, n-1, 4*500, 0)
}

// TestListNewestWhileReconciling: while the index is not marked complete
// (its first reconcile has not completed) and the counts say the store
// holds more tasks than a walk may read, a page of the newest walks the
// index (bounded) instead of reading every task; a task stored without an
// entry (by an older member) is listed once a reconcile gave it one. A
// store of fewer tasks is read whole (TestListNewestIndexesOlderTasks).
func TestListNewestWhileReconciling(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	kv := agent.Client().KV()
	rc, client := newReadCounter(t, agent, "rebuild")
	cfg := consulstore.DefaultConfig("rebuild")
	cfg.ReconcileEvery = -1 // no reconcile: the index stays "being rebuilt"
	cfg.WalkRecords = 100
	s, err := consulstore.New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	waitCountsMade(t, kv, "rebuild")
	const n = 600
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	createSpaced(t, s, n, at, 10*time.Millisecond)
	oldMemberTask(t, kv, "rebuild", "old-member", at.Add(time.Hour))
	if pair, _, err := kv.Get("granary/rebuild/bytime-ready", nil); err != nil || pair != nil {
		t.Fatalf("the marker: %v, %v; want none", pair, err)
	}
	apiPages(t, s, rc, 3, n-1, 4*100, 2) // and the marker's and the counts' reads
	if _, err := s.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := newestIDs(t, s); len(got) == 0 || got[0] != "old-member" || !slices.Contains(got, "t0599") {
		t.Fatalf("after the reconcile the newest are %v, want old-member then t0599..", got)
	}
}

// waitCountsMade waits for the cluster's task counts to be made (the
// repair shard, written by a store as it opens on a new cluster).
func waitCountsMade(t *testing.T, kv *api.KV, cluster string) {
	t.Helper()
	waitKey(t, kv, "granary/"+cluster+"/counts/_repair")
}

// waitKey waits up to 30 s for key to exist.
func waitKey(t *testing.T, kv *api.KV, key string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pair, _, err := kv.Get(key, nil)
		if err != nil {
			t.Fatal(err)
		}
		if pair != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30s", key)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
