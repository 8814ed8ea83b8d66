package boltstore

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

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
	// As the previous version left it.
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketJobKids) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(DefaultConfig(path))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
