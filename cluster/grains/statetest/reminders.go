package statetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/grains"
)

// reminderTests are run on stores that implement grains.ReminderStore.
var reminderTests = []struct {
	name string
	fn   func(t *testing.T, s Store, rs grains.ReminderStore)
}{
	{"ReminderIndexFollowsWrites", testIndexFollowsWrites},
	{"ReminderWatchWaitsForChange", testWatchWaits},
	{"ReminderIndexGoesWithDelete", testIndexDelete},
	{"ReminderLostClaimIndexesNothing", testIndexLostClaim},
}

func watch(t *testing.T, rs grains.ReminderStore, shard int, index uint64) ([]grains.IndexEntry, uint64) {
	t.Helper()
	es, next, err := rs.WatchReminders(ctx(t), shard, index)
	if err != nil {
		t.Fatalf("WatchReminders(%d, %d): %v", shard, index, err)
	}
	return es, next
}

func entriesOf(es []grains.IndexEntry, kind, identity string) map[string]int64 {
	out := map[string]int64{}
	for _, e := range es {
		if e.Kind == kind && e.Identity == identity {
			out[e.Name] = e.Due.UnixNano()
		}
	}
	return out
}

func testIndexFollowsWrites(t *testing.T, s Store, rs grains.ReminderStore) {
	s.Claim(t, "cart", "a")
	due := time.Unix(0, 1_700_000_000_123_456_789)
	v, err := rs.SaveStateIndexed(ctx(t), "cart", "a", "m1", []byte("s1"), 0,
		[]grains.IndexChange{{Name: "x", Due: due}, {Name: "y", Due: due.Add(time.Second)}})
	if err != nil {
		t.Fatal(err)
	}
	shard := grains.ReminderShard("cart", "a")
	es, _ := watch(t, rs, shard, 0)
	if got := fmt.Sprint(entriesOf(es, "cart", "a")); got != fmt.Sprint(map[string]int64{"x": due.UnixNano(), "y": due.Add(time.Second).UnixNano()}) {
		t.Fatalf("index after setting x and y: %s", got)
	}
	if _, err := rs.SaveStateIndexed(ctx(t), "cart", "a", "m1", []byte("s2"), v, []grains.IndexChange{{Name: "x"}}); err != nil {
		t.Fatal(err)
	}
	es, _ = watch(t, rs, shard, 0)
	if got := entriesOf(es, "cart", "a"); len(got) != 1 || got["y"] == 0 {
		t.Fatalf("index after removing x: %v", got)
	}
	other := (shard + 1) % grains.ReminderShards
	for _, e := range func() []grains.IndexEntry { es, _ := watch(t, rs, other, 0); return es }() {
		if e.Kind == "cart" && e.Identity == "a" {
			t.Fatalf("cart/a's reminder listed in shard %d, it is in %d", other, shard)
		}
	}
}

func testWatchWaits(t *testing.T, s Store, rs grains.ReminderStore) {
	s.Claim(t, "cart", "w")
	shard := grains.ReminderShard("cart", "w")
	_, index := watch(t, rs, shard, 0)
	got := make(chan []grains.IndexEntry, 1)
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
	if _, err := rs.SaveStateIndexed(ctx(t), "cart", "w", "m1", []byte("s"), 0, []grains.IndexChange{{Name: "r", Due: time.Now()}}); err != nil {
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

func testIndexDelete(t *testing.T, s Store, rs grains.ReminderStore) {
	s.Claim(t, "cart", "d")
	if _, err := rs.SaveStateIndexed(ctx(t), "cart", "d", "m1", []byte("s"), 0, []grains.IndexChange{{Name: "r", Due: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteState(ctx(t), "cart", "d"); err != nil {
		t.Fatal(err)
	}
	if es, _ := watch(t, rs, grains.ReminderShard("cart", "d"), 0); len(entriesOf(es, "cart", "d")) != 0 {
		t.Fatalf("reminders left in the index after the grain's state was deleted: %v", es)
	}
}

func testIndexLostClaim(t *testing.T, s Store, rs grains.ReminderStore) {
	if s.Lose == nil {
		t.Skip("this store has no claims: one member holds every identity")
	}
	s.Claim(t, "cart", "l")
	v := save(t, s, "cart", "l", []byte("mine"), 0)
	s.Lose(t, "cart", "l")
	_, err := rs.SaveStateIndexed(ctx(t), "cart", "l", "m1", []byte("lost"), v, []grains.IndexChange{{Name: "r", Due: time.Now()}})
	if !errors.Is(err, grains.ErrStateConflict) {
		t.Fatalf("an indexed save after the claim was lost: %v, want grains.ErrStateConflict", err)
	}
	if es, _ := watch(t, rs, grains.ReminderShard("cart", "l"), 0); len(entriesOf(es, "cart", "l")) != 0 {
		t.Fatalf("the lost writer indexed a reminder: %v", es)
	}
}
