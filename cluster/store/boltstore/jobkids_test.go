package boltstore

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/messages"
	bolt "go.etcd.io/bbolt"
)

// TestOpenIndexesOlderChildJobs: a database written before the child jobs
// index (no jobkids bucket) gets every child job indexed when opened, so
// its children are listed.
func TestOpenIndexesOlderChildJobs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	s, err := Open(DefaultConfig(path))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, j := range []*messages.Job{{Id: "p"}, {Id: "p-b", Parent: "p"}, {Id: "p-a", Parent: "p"}, {Id: "q-a", Parent: "q"}} {
		if _, err := s.PutJob(ctx, j, 0); err != nil {
			t.Fatal(err)
		}
	}
	s = reopenWithout(t, s, path, bucketJobKids)
	for parent, want := range map[string][]string{"p": {"p-a", "p-b"}, "q": {"q-a"}, "p-a": nil} {
		recs, err := s.ListChildJobs(ctx, parent)
		var got []string
		for _, r := range recs {
			got = append(got, r.Job.GetId())
		}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("after reopening, children of %s = %v, %v; want %v", parent, got, err, want)
		}
	}
}

// reopenWithout closes s, deletes bucket from its database, as the
// version before that bucket left it, and opens the database again (the
// store returned is closed when t ends).
func reopenWithout(t *testing.T, s *Store, path string, bucket []byte) *Store {
	t.Helper()
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucket) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(DefaultConfig(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkChildJobsOf10000: finding a job's 2 child jobs in a bbolt
// store with 10,000 other jobs stored, through the index and by the old
// scan.
func BenchmarkChildJobsOf10000(b *testing.B) {
	s, err := Open(DefaultConfig(filepath.Join(b.TempDir(), "tasks.db")))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	storetest.BenchChildJobs(b, s, 10_000, nil)
}
