package boltstate_test

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/grainstate"
	"github.com/granary-rt/granary/cluster/grainstate/boltstate"
	"github.com/granary-rt/granary/cluster/grainstate/grainstatetest"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	bolt "go.etcd.io/bbolt"
)

func open(t *testing.T, path string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(boltstore.DefaultConfig(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestConformance: grain state in bbolt, in the task store's file
// (granary dev: one member, no claims to check).
func TestConformance(t *testing.T) {
	grainstatetest.Run(t, func(t *testing.T) grainstatetest.Store {
		st := boltstate.New(open(t, filepath.Join(t.TempDir(), "tasks.db")))
		return grainstatetest.Store{ReminderStore: st, Claim: func(*testing.T, string, string) {}}
	})
}

// TestStoredLayout: a file written in the layout of earlier releases (the
// buckets and keys below, written here byte by byte) is read as it was,
// and a new write lands in the same layout, so a data directory moves
// between releases both ways.
func TestStoredLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	due := time.Unix(0, 1_700_000_000_000_000_007)
	shard := grainstate.ReminderShard("counter", "alice")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		gs, _ := tx.CreateBucket([]byte("grainstate"))
		rs, _ := tx.CreateBucket([]byte("reminders"))
		if _, err := tx.CreateBucket([]byte("reminderversions")); err != nil {
			return err
		}
		if err := gs.Put([]byte("counter\x00alice"), append(binary.BigEndian.AppendUint64(nil, 7), "old record"...)); err != nil {
			return err
		}
		_ = gs.SetSequence(7)
		key := append(binary.BigEndian.AppendUint16(nil, uint16(shard)), "counter\x00alice\x00tick"...)
		return rs.Put(key, binary.BigEndian.AppendUint64(nil, uint64(due.UnixNano())))
	})
	if err != nil || db.Close() != nil {
		t.Fatal(err)
	}
	st := boltstate.New(open(t, path))
	ctx := context.Background()
	data, v, err := st.LoadState(ctx, "counter", "alice")
	if err != nil || string(data) != "old record" || v != 7 {
		t.Fatalf("the old record reads as %q at %d, %v", data, v, err)
	}
	es, _, err := st.WatchReminders(ctx, shard, 0)
	if err != nil || len(es) != 1 || es[0] != (grainstate.IndexEntry{Kind: "counter", Identity: "alice", Name: "tick", Due: es[0].Due}) || !es[0].Due.Equal(due) {
		t.Fatalf("the old reminder index lists %+v, %v", es, err)
	}
	if v, err = st.SaveState(ctx, "counter", "alice", "dev", []byte("new record"), v); err != nil || v != 8 {
		t.Fatalf("a write over the old record: version %d, %v", v, err)
	}
}
