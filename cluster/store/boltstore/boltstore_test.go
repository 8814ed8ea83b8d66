package boltstore_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
)

func open(t *testing.T, path string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(boltstore.DefaultConfig(path))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "tasks.db"))
	})
}

func TestSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	s := open(t, path)
	rec, _, err := s.Create(context.Background(), storetest.NewTask("a", "m1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	got, err := s.Get(context.Background(), "a")
	if err != nil || got.Revision != rec.Revision {
		t.Fatalf("after reopen Get = %d, %v; want revision %d", got.Revision, err, rec.Revision)
	}
	next, _, err := s.Create(context.Background(), storetest.NewTask("b", "m1"))
	if err != nil || next.Revision <= rec.Revision {
		t.Fatalf("revision after reopen %d, want > %d (%v)", next.Revision, rec.Revision, err)
	}
	owned, err := s.List(context.Background(), store.Filter{Owner: "m1"})
	if err != nil || len(owned) != 2 {
		t.Fatalf("owner index after reopen has %d tasks (%v), want 2", len(owned), err)
	}
}

func TestSecondOpenFailsClearly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	s := open(t, path)
	defer s.Close()
	cfg := boltstore.DefaultConfig(path)
	cfg.OpenTimeout = 50 * time.Millisecond
	_, err := boltstore.Open(cfg)
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open error = %v, want a clear 'locked by another process'", err)
	}
}

// TestOpenErrorNamesThePathOnce: a database that cannot be opened (here a
// directory in its place, which even root cannot open for writing) says
// where, once.
func TestOpenErrorNamesThePathOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := boltstore.Open(boltstore.DefaultConfig(path))
	if err == nil || strings.Count(err.Error(), path) != 1 {
		t.Fatalf("Open(%s) = %v; want an error naming the path once", path, err)
	}
}

// TestOpenRefusesBadMaxBatch: a MaxBatch below 1 is refused clearly,
// before anything is created.
func TestOpenRefusesBadMaxBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "tasks.db")
	cfg := boltstore.DefaultConfig(path)
	cfg.MaxBatch = 0
	if _, err := boltstore.Open(cfg); err == nil || !strings.Contains(err.Error(), "MaxBatch") {
		t.Fatalf("Open with MaxBatch 0 = %v, want an error naming MaxBatch", err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("Open with a bad config created %s (%v)", filepath.Dir(path), err)
	}
}
