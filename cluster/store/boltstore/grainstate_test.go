package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/granary-rt/granary/cluster/grains/statetest"
	"github.com/granary-rt/granary/cluster/store/boltstore"
)

// TestStateConformance: grain state in bbolt (granary dev: one member, no
// claims to check).
func TestStateConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) statetest.Store {
		s, err := boltstore.Open(boltstore.DefaultConfig(filepath.Join(t.TempDir(), "tasks.db")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return statetest.Store{StateStore: s, Claim: func(*testing.T, string, string) {}}
	})
}
