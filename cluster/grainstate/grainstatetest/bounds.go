package grainstatetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/cluster/grainstate"
)

var boundTests = []test{
	{"LargestStateRoundTrips", testLargest},
	{"TooLargeStateRefused", testTooLarge},
	{"BadNamesRefused", testBadNames},
	{"TooManyIndexChangesRefused", testTooManyChanges},
	{"BadShardRefused", testBadShard},
}

// testLargest: a state of exactly MaxStateBytes is stored and read back
// whole (Consul: one value of a transaction, base64 in its body).
func testLargest(t *testing.T, s Store) {
	s.Claim(t, "cart", "big")
	data := bytes.Repeat([]byte("0123456789abcdef"), grainstate.MaxStateBytes/16)
	v := save(t, s, "cart", "big", data, 0)
	if got, gv := load(t, s, "cart", "big"); !bytes.Equal(got, data) || gv != v {
		t.Fatalf("a state of %d bytes read back as %d bytes at %d (written at %d)", len(data), len(got), gv, v)
	}
}

// testTooLarge: one byte over is ErrStateTooLarge and changes nothing,
// with or without index changes.
func testTooLarge(t *testing.T, s Store) {
	s.Claim(t, "cart", "over")
	v := save(t, s, "cart", "over", []byte("small"), 0)
	big := make([]byte, grainstate.MaxStateBytes+1)
	if _, err := s.SaveState(ctx(t), "cart", "over", "m1", big, v); !errors.Is(err, grainstate.ErrStateTooLarge) || !errors.Is(err, errs.ErrInvalidArgument) {
		t.Fatalf("a state of %d bytes: %v, want grainstate.ErrStateTooLarge (an invalid argument)", len(big), err)
	}
	_, err := s.SaveStateIndexed(ctx(t), "cart", "over", "m1", big, v, []grainstate.IndexChange{{Name: "r", Due: time.Now()}})
	if !errors.Is(err, grainstate.ErrStateTooLarge) {
		t.Fatalf("an indexed state of %d bytes: %v, want grainstate.ErrStateTooLarge", len(big), err)
	}
	expectUnchanged(t, s, "cart", "over", "small", v)
}

// testBadNames: an empty kind, identity or reminder name, one with a NUL
// byte or one over MaxNameBytes is an invalid argument for every
// operation, and nothing is written.
func testBadNames(t *testing.T, s Store) {
	long := strings.Repeat("i", grainstate.MaxNameBytes+1)
	for _, g := range [][2]string{{"", "a"}, {"cart", ""}, {"ca\x00rt", "a"}, {"cart", "a\x00b"}, {"cart", long}} {
		kind, id := g[0], g[1]
		what := fmt.Sprintf("%q/%.20q", kind, id)
		if _, _, err := s.LoadState(ctx(t), kind, id); !errors.Is(err, errs.ErrInvalidArgument) {
			t.Errorf("LoadState(%s): %v, want an invalid argument", what, err)
		}
		if _, err := s.SaveState(ctx(t), kind, id, "m1", []byte("x"), 0); !errors.Is(err, errs.ErrInvalidArgument) {
			t.Errorf("SaveState(%s): %v, want an invalid argument", what, err)
		}
		if err := s.DeleteState(ctx(t), kind, id); !errors.Is(err, errs.ErrInvalidArgument) {
			t.Errorf("DeleteState(%s): %v, want an invalid argument", what, err)
		}
	}
	s.Claim(t, "cart", "names")
	v := save(t, s, "cart", "names", []byte("kept"), 0)
	for _, name := range []string{"", "a\x00b", long} {
		_, err := s.SaveStateIndexed(ctx(t), "cart", "names", "m1", []byte("new"), v, []grainstate.IndexChange{{Name: "ok", Due: time.Now()}, {Name: name, Due: time.Now()}})
		if !errors.Is(err, errs.ErrInvalidArgument) {
			t.Errorf("a reminder named %.20q: %v, want an invalid argument", name, err)
		}
	}
	expectUnchanged(t, s, "cart", "names", "kept", v)
}

// testTooManyChanges: more than MaxIndexChanges index changes in one write
// (more than a Consul transaction holds) are refused whole; MaxIndexChanges
// are taken.
func testTooManyChanges(t *testing.T, s Store) {
	s.Claim(t, "cart", "many")
	v := save(t, s, "cart", "many", []byte("kept"), 0)
	changes := make([]grainstate.IndexChange, grainstate.MaxIndexChanges+1)
	for i := range changes {
		changes[i] = grainstate.IndexChange{Name: fmt.Sprintf("r%d", i), Due: time.Unix(0, int64(i+1))}
	}
	if _, err := s.SaveStateIndexed(ctx(t), "cart", "many", "m1", []byte("new"), v, changes); !errors.Is(err, errs.ErrInvalidArgument) {
		t.Fatalf("%d index changes: %v, want an invalid argument", len(changes), err)
	}
	expectUnchanged(t, s, "cart", "many", "kept", v)
	if _, err := s.SaveStateIndexed(ctx(t), "cart", "many", "m1", []byte("new"), v, changes[:grainstate.MaxIndexChanges]); err != nil {
		t.Fatalf("%d index changes: %v", grainstate.MaxIndexChanges, err)
	}
	if es, _ := watch(t, s.ReminderStore, grainstate.ReminderShard("cart", "many"), 0); len(entriesOf(es, "cart", "many")) != grainstate.MaxIndexChanges {
		t.Fatalf("%d entries indexed, want %d", len(entriesOf(es, "cart", "many")), grainstate.MaxIndexChanges)
	}
}

func testBadShard(t *testing.T, s Store) {
	for _, shard := range []int{-1, grainstate.ReminderShards} {
		if _, _, err := s.WatchReminders(ctx(t), shard, 0); !errors.Is(err, errs.ErrInvalidArgument) {
			t.Errorf("WatchReminders(shard %d): %v, want an invalid argument", shard, err)
		}
	}
}

// expectUnchanged fails t unless (kind, identity) holds want at version v
// and has no reminder index entries.
func expectUnchanged(t *testing.T, s Store, kind, identity, want string, v uint64) {
	t.Helper()
	if data, got := load(t, s, kind, identity); string(data) != want || got != v {
		t.Fatalf("a refused write changed %s/%s to %q at %d (was %q at %d)", kind, identity, data, got, want, v)
	}
	if es, _ := watch(t, s.ReminderStore, grainstate.ReminderShard(kind, identity), 0); len(entriesOf(es, kind, identity)) != 0 {
		t.Fatalf("a refused write indexed reminders of %s/%s: %v", kind, identity, es)
	}
}
