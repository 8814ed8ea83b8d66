package grainstatetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/grainstate"
)

var reminderTests = []test{
	{"ReminderIndexFollowsWrites", testIndexFollowsWrites},
	{"ReminderIndexOfManyGrains", testIndexManyGrains},
	{"ReminderPlainSaveKeepsIndex", testPlainSaveKeepsIndex},
	{"ReminderWatchWaitsForChange", testWatchWaits},
	{"ReminderIndexGoesWithDelete", testIndexDelete},
	{"ReminderLostClaimIndexesNothing", testIndexLostClaim},
	{"ReminderRefusedWriteIndexesNothing", testIndexStale},
}

func watch(t *testing.T, rs grainstate.ReminderStore, shard int, index uint64) ([]grainstate.IndexEntry, uint64) {
	t.Helper()
	es, next, err := rs.WatchReminders(ctx(t), shard, index)
	if err != nil {
		t.Fatalf("WatchReminders(%d, %d): %v", shard, index, err)
	}
	return es, next
}

func entriesOf(es []grainstate.IndexEntry, kind, identity string) map[string]int64 {
	out := map[string]int64{}
	for _, e := range es {
		if e.Kind == kind && e.Identity == identity {
			out[e.Name] = e.Due.UnixNano()
		}
	}
	return out
}

func testIndexFollowsWrites(t *testing.T, s Store) {
	rs := s.ReminderStore
	s.Claim(t, "cart", "a")
	due := time.Unix(0, 1_700_000_000_123_456_789)
	v, err := rs.SaveStateIndexed(ctx(t), "cart", "a", "m1", []byte("s1"), 0,
		[]grainstate.IndexChange{{Name: "x", Due: due}, {Name: "y", Due: due.Add(time.Second)}})
	if err != nil {
		t.Fatal(err)
	}
	shard := grainstate.ReminderShard("cart", "a")
	es, _ := watch(t, rs, shard, 0)
	if got := fmt.Sprint(entriesOf(es, "cart", "a")); got != fmt.Sprint(map[string]int64{"x": due.UnixNano(), "y": due.Add(time.Second).UnixNano()}) {
		t.Fatalf("index after setting x and y: %s", got)
	}
	if _, err := rs.SaveStateIndexed(ctx(t), "cart", "a", "m1", []byte("s2"), v, []grainstate.IndexChange{{Name: "x"}}); err != nil {
		t.Fatal(err)
	}
	es, _ = watch(t, rs, shard, 0)
	if got := entriesOf(es, "cart", "a"); len(got) != 1 || got["y"] == 0 {
		t.Fatalf("index after removing x: %v", got)
	}
	other := (shard + 1) % grainstate.ReminderShards
	for _, e := range func() []grainstate.IndexEntry { es, _ := watch(t, rs, other, 0); return es }() {
		if e.Kind == "cart" && e.Identity == "a" {
			t.Fatalf("cart/a's reminder listed in shard %d, it is in %d", other, shard)
		}
	}
}

func testWatchWaits(t *testing.T, s Store) {
	rs := s.ReminderStore
	s.Claim(t, "cart", "w")
	shard := grainstate.ReminderShard("cart", "w")
	_, index := watch(t, rs, shard, 0)
	got := make(chan []grainstate.IndexEntry, 1)
	go func() {
		c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		es, _, _ := rs.WatchReminders(c, shard, index)
		got <- es
	}()
	select {
	case es := <-got:
		t.Fatalf("the watch returned %v before anything changed", es)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := rs.SaveStateIndexed(ctx(t), "cart", "w", "m1", []byte("s"), 0, []grainstate.IndexChange{{Name: "r", Due: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	select {
	case es := <-got:
		if entriesOf(es, "cart", "w")["r"] == 0 {
			t.Fatalf("the watch returned %v after r was set", es)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not return within 5s of a change to its shard")
	}
}

func testIndexDelete(t *testing.T, s Store) {
	rs := s.ReminderStore
	s.Claim(t, "cart", "d")
	if _, err := rs.SaveStateIndexed(ctx(t), "cart", "d", "m1", []byte("s"), 0, []grainstate.IndexChange{{Name: "r", Due: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteState(ctx(t), "cart", "d"); err != nil {
		t.Fatal(err)
	}
	if es, _ := watch(t, rs, grainstate.ReminderShard("cart", "d"), 0); len(entriesOf(es, "cart", "d")) != 0 {
		t.Fatalf("reminders left in the index after the grain's state was deleted: %v", es)
	}
}

func testIndexLostClaim(t *testing.T, s Store) {
	rs := s.ReminderStore
	if s.Lose == nil {
		t.Skip("this store has no claims: one member holds every identity")
	}
	s.Claim(t, "cart", "l")
	v := save(t, s, "cart", "l", []byte("mine"), 0)
	s.Lose(t, "cart", "l")
	_, err := rs.SaveStateIndexed(ctx(t), "cart", "l", "m1", []byte("lost"), v, []grainstate.IndexChange{{Name: "r", Due: time.Now()}})
	if !errors.Is(err, grainstate.ErrStateConflict) {
		t.Fatalf("an indexed save after the claim was lost: %v, want grainstate.ErrStateConflict", err)
	}
	if es, _ := watch(t, rs, grainstate.ReminderShard("cart", "l"), 0); len(entriesOf(es, "cart", "l")) != 0 {
		t.Fatalf("the lost writer indexed a reminder: %v", es)
	}
}

// testIndexManyGrains: reminders of many grains are listed in their own
// shard each, with their due times to the nanosecond, and cancelling
// them all (in one write per grain) leaves none.
func testIndexManyGrains(t *testing.T, s Store) {
	const n = 40
	base := time.Unix(0, 1_800_000_000_000_000_001)
	versions := map[string]uint64{}
	for i := range n {
		id := fmt.Sprintf("m%02d", i)
		s.Claim(t, "alarm", id)
		v, err := s.SaveStateIndexed(ctx(t), "alarm", id, "m1", []byte(id), 0, []grainstate.IndexChange{
			{Name: "once", Due: base.Add(time.Duration(i) * time.Millisecond)},
			{Name: "daily", Due: base.Add(24 * time.Hour)},
		})
		if err != nil {
			t.Fatalf("SaveStateIndexed(%s): %v", id, err)
		}
		versions[id] = v
	}
	listed := map[string]int64{}
	for shard := range grainstate.ReminderShards {
		es, _ := watch(t, s.ReminderStore, shard, 0)
		for _, e := range es {
			if e.Kind != "alarm" {
				continue
			}
			if got := grainstate.ReminderShard(e.Kind, e.Identity); got != shard {
				t.Errorf("%s/%s listed in shard %d, it is in %d", e.Kind, e.Identity, shard, got)
			}
			listed[e.Identity+"/"+e.Name] = e.Due.UnixNano()
		}
	}
	for i := range n {
		id := fmt.Sprintf("m%02d", i)
		if got, want := listed[id+"/once"], base.Add(time.Duration(i)*time.Millisecond).UnixNano(); got != want {
			t.Errorf("%s/once due %d, want %d", id, got, want)
		}
		if got := listed[id+"/daily"]; got != base.Add(24*time.Hour).UnixNano() {
			t.Errorf("%s/daily due %d", id, got)
		}
	}
	if len(listed) != 2*n {
		t.Errorf("%d entries listed, want %d", len(listed), 2*n)
	}
	for id, v := range versions {
		if _, err := s.SaveStateIndexed(ctx(t), "alarm", id, "m1", []byte(id), v, []grainstate.IndexChange{{Name: "once"}, {Name: "daily"}}); err != nil {
			t.Fatalf("cancelling %s's reminders: %v", id, err)
		}
	}
	for shard := range grainstate.ReminderShards {
		es, _ := watch(t, s.ReminderStore, shard, 0)
		for _, e := range es {
			if e.Kind == "alarm" {
				t.Errorf("cancelled reminder still listed: %+v", e)
			}
		}
	}
}

// testPlainSaveKeepsIndex: a write without index changes (SaveState)
// leaves the grain's reminders as they were.
func testPlainSaveKeepsIndex(t *testing.T, s Store) {
	s.Claim(t, "cart", "k")
	due := time.Unix(0, 1_750_000_000_000_000_000)
	v, err := s.SaveStateIndexed(ctx(t), "cart", "k", "m1", []byte("s1"), 0, []grainstate.IndexChange{{Name: "r", Due: due}})
	if err != nil {
		t.Fatal(err)
	}
	save(t, s, "cart", "k", []byte("s2"), v)
	if es, _ := watch(t, s.ReminderStore, grainstate.ReminderShard("cart", "k"), 0); entriesOf(es, "cart", "k")["r"] != due.UnixNano() {
		t.Fatalf("after a plain save the index holds %v", es)
	}
}

// testIndexStale: an indexed write at a stale version changes neither the
// state nor the index.
func testIndexStale(t *testing.T, s Store) {
	s.Claim(t, "cart", "s")
	v := save(t, s, "cart", "s", []byte("one"), 0)
	save(t, s, "cart", "s", []byte("two"), v)
	_, err := s.SaveStateIndexed(ctx(t), "cart", "s", "m1", []byte("stale"), v, []grainstate.IndexChange{{Name: "r", Due: time.Now()}})
	if !errors.Is(err, grainstate.ErrStateConflict) {
		t.Fatalf("an indexed save at a replaced version: %v, want grainstate.ErrStateConflict", err)
	}
	if data, _ := load(t, s, "cart", "s"); string(data) != "two" {
		t.Fatalf("the refused write changed the state to %q", data)
	}
	if es, _ := watch(t, s.ReminderStore, grainstate.ReminderShard("cart", "s"), 0); len(entriesOf(es, "cart", "s")) != 0 {
		t.Fatalf("the refused write indexed a reminder: %v", es)
	}
}
