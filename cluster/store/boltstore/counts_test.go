package boltstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/storetest"
	bolt "go.etcd.io/bbolt"
)

// TestCountsMadeWhenMissing: a database without counts (from before them)
// gets them, made from its tasks, when it is opened.
func TestCountsMadeWhenMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	s := open(t, path)
	for _, id := range []string{"a", "b", "c"} {
		if _, _, err := s.Create(context.Background(), storetest.NewTask(id, "m1")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("counts")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	got, err := s.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := store.Counts{}
	want.Add("echo", storetest.NewTask("x", "m").GetStatus().GetState(), 3)
	if !got.Equal(want) {
		t.Fatalf("counts after reopen %v, want %v", got, want)
	}
}
