package boltstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestOpenIndexesOlderDatabase: a database written before the time index
// (no bytime bucket) gets every task indexed when opened, so pages of the
// newest tasks still list them all.
func TestOpenIndexesOlderDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	s, err := Open(DefaultConfig(path))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 30
	for i := range n {
		task := storetest.NewTask(fmt.Sprintf("old%02d", i), "m1")
		task.Status.SubmittedAt = timestamppb.New(t0.Add(time.Duration(i) * time.Minute))
		if _, _, err := s.Create(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	s = reopenWithout(t, s, path, bucketByTime)
	recs, err := s.List(ctx, store.Filter{Order: store.NewestFirst, Limit: 2 * n})
	if err != nil || len(recs) != n {
		t.Fatalf("after reopening, newest first: %d tasks, %v; want %d", len(recs), err, n)
	}
	for i, r := range recs {
		if want := fmt.Sprintf("old%02d", n-1-i); r.Task.GetSpec().GetId() != want {
			t.Fatalf("item %d is %s, want %s", i, r.Task.GetSpec().GetId(), want)
		}
	}
}
